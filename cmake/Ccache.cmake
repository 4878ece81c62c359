# Use ccache when present; torch headers make every recompile expensive.
find_program(PESUITE_CCACHE ccache)
if(PESUITE_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # Precompiled headers are only cache hits with this sloppiness (ccache manual, "Precompiled headers").
  # CCACHE_BASEDIR makes paths relative, so a fresh clone (CI) hits what an earlier one compiled.
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}"
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime" ${PESUITE_CCACHE})
endif()

# One precompiled torch header (cmake/pesuite_pch.h), built once in pesuite_pch and reused by every
# source file that includes torch: compiling it costs as much as ten ordinary files.
add_library(pesuite_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pesuite_pch.cpp)
target_link_libraries(pesuite_pch PRIVATE ${TORCH_LIBRARIES})
target_compile_options(pesuite_pch PRIVATE ${PESUITE_TORCH_CXX_FLAGS})
target_precompile_headers(pesuite_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/pesuite_pch.h)

# Where the suite's own headers are found, for the include scan below.
file(GLOB PESUITE_INCLUDE_ROOTS LIST_DIRECTORIES true ${PROJECT_SOURCE_DIR}/*/include)
list(APPEND PESUITE_INCLUDE_ROOTS ${PROJECT_SOURCE_DIR}/tests)

# pesuite_includes_torch(<file> <out-var>): whether <file>, through the suite's own headers,
# includes torch (torch/, ATen/, c10/). Answers are cached for the configure run.
function(pesuite_includes_torch file out)
  get_property(known GLOBAL PROPERTY "PESUITE_TORCH_SCAN:${file}" SET)
  if(known)
    get_property(answer GLOBAL PROPERTY "PESUITE_TORCH_SCAN:${file}")
    set(${out} ${answer} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY "PESUITE_TORCH_SCAN:${file}" OFF)  # a cycle reads "no" while scanning
  set(answer OFF)
  file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  get_filename_component(here ${file} DIRECTORY)
  foreach(line ${lines})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*$" "\\1" name "${line}")
    if(name MATCHES "^(torch|ATen|c10)/")
      set(answer ON)
      break()
    endif()
    foreach(root ${here} ${PESUITE_INCLUDE_ROOTS})
      if(EXISTS ${root}/${name} AND NOT IS_DIRECTORY ${root}/${name})
        get_filename_component(header ${root}/${name} ABSOLUTE)
        pesuite_includes_torch(${header} nested)
        if(nested)
          set(answer ON)
        endif()
        break()
      endif()
    endforeach()
    if(answer)
      break()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY "PESUITE_TORCH_SCAN:${file}" ${answer})
  set(${out} ${answer} PARENT_SCOPE)
endfunction()

# pesuite_torch_target(target): torch flags, and the shared precompiled header for the sources that
# include torch. The others compile without it: loading the 0.5 GB header costs a file that never
# needs torch 7-13 s with GCC 12 (core/src/append_log.cpp: 0.7 s without, 7.8 s with), more than
# the whole file.
# Executables are compiled -fPIC like the libraries (not -fPIE): GCC rejects a PCH built with the other.
function(pesuite_torch_target target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  target_compile_options(${target} PRIVATE ${PESUITE_TORCH_CXX_FLAGS})
  target_precompile_headers(${target} REUSE_FROM pesuite_pch)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  foreach(source ${sources})
    if(NOT source MATCHES "\\.cpp$")
      continue()
    endif()
    get_filename_component(path ${source} ABSOLUTE BASE_DIR ${source_dir})
    pesuite_includes_torch(${path} uses_torch)
    if(NOT uses_torch)
      set_source_files_properties(${path} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()

# pesuite_unity_target(target): the target's torch sources compiled a few at a time as one file
# (CMake unity build). A torch file spends about 8 of its 20-30 s loading the precompiled header
# and emitting the same inline torch code as its neighbours; batching pays that once per batch.
# Torch-free sources stay separate (they are fast alone and must not get the header). Off with
# -DPESUITE_UNITY=OFF for quicker rebuilds of one changed file while developing.
option(PESUITE_UNITY "Compile each library's torch sources in batches (unity build)" ON)
set(PESUITE_UNITY_BATCH 6 CACHE STRING "Torch sources per unity batch")
function(pesuite_unity_target target)
  if(NOT PESUITE_UNITY)
    return()
  endif()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${PESUITE_UNITY_BATCH})
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  foreach(source ${sources})
    get_filename_component(path ${source} ABSOLUTE BASE_DIR ${source_dir})
    get_source_file_property(skip_pch ${path} SKIP_PRECOMPILE_HEADERS)
    if(skip_pch)
      set_source_files_properties(${path} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    endif()
  endforeach()
endfunction()

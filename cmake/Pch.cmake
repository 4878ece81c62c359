# One precompiled torch header (cmake/pesuite_pch.h), built once in pesuite_pch and reused by every
# target whose sources include torch: compiling it costs as much as ten ordinary files.
add_library(pesuite_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pesuite_pch.cpp)
target_link_libraries(pesuite_pch PRIVATE ${TORCH_LIBRARIES})
target_compile_options(pesuite_pch PRIVATE ${PESUITE_TORCH_CXX_FLAGS})
target_precompile_headers(pesuite_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/pesuite_pch.h)

# pesuite_torch_target(target): torch flags and the shared precompiled header.
# Executables are compiled -fPIC like the libraries (not -fPIE): GCC rejects a PCH built with the other.
function(pesuite_torch_target target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  target_compile_options(${target} PRIVATE ${PESUITE_TORCH_CXX_FLAGS})
  target_precompile_headers(${target} REUSE_FROM pesuite_pch)
endfunction()

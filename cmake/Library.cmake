# pesuite_add_library(<name> SOURCE_DIRS <dirs...> [SOURCES <files...>] [PUBLIC <deps...>]
#                     [PRIVATE <deps...>] [PUBLIC_DEFINES <defs...>] [PRIVATE_DEFINES <defs...>] [NO_TORCH])
# One library of the suite: target pesuite_<name>, alias and export name pesuite::<name>, every
# *.cpp directly in SOURCE_DIRS (so a new file in a library's folder needs no CMake edit; code that
# needs OpenCV lives in an opencv/ folder of its own, compiled only when OpenCV is found), public
# headers in <folder>/include, the project's warnings, and (unless NO_TORCH) torch's flags and the
# shared precompiled torch header. Every library registers itself for install/export (Install.cmake).
function(pesuite_add_library name)
  cmake_parse_arguments(L "NO_TORCH" "" "SOURCE_DIRS;SOURCES;PUBLIC;PRIVATE;PUBLIC_DEFINES;PRIVATE_DEFINES" ${ARGN})
  set(target pesuite_${name})
  set(sources ${L_SOURCES})
  foreach(dir ${L_SOURCE_DIRS})
    file(GLOB found CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*.cpp)
    list(SORT found)
    list(APPEND sources ${found})
  endforeach()
  add_library(${target} ${sources})
  add_library(pesuite::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME ${target})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target} PUBLIC ${L_PUBLIC} PRIVATE ${L_PRIVATE})
  if(L_PUBLIC_DEFINES)
    target_compile_definitions(${target} PUBLIC ${L_PUBLIC_DEFINES})
  endif()
  if(L_PRIVATE_DEFINES)
    target_compile_definitions(${target} PRIVATE ${L_PRIVATE_DEFINES})
  endif()
  if(NOT L_NO_TORCH)
    pesuite_torch_target(${target})
    pesuite_unity_target(${target})
  endif()
  pesuite_warnings(${target})
  set_property(GLOBAL APPEND PROPERTY PESUITE_LIBRARIES ${target})
endfunction()

# `cmake --install` gives a package: find_package(pesuite) in another project gets every library
# pesuite_add_library() made (pesuite::core, ::heads, ::graph, ::graph_training, ::datasets,
# ::vision, ::vision_training, ::experiments; with OpenCV also ::imageio, ::plot) with their
# dependencies.
include(CMakePackageConfigHelpers)
get_property(PESUITE_EXPORTED GLOBAL PROPERTY PESUITE_LIBRARIES)
install(TARGETS ${PESUITE_EXPORTED} EXPORT pesuiteTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(dir core heads graph datasets vision experiments)
  if(EXISTS ${PROJECT_SOURCE_DIR}/${dir}/include)
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
endforeach()
install(EXPORT pesuiteTargets NAMESPACE pesuite:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pesuite)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pesuiteConfig.cmake.in
  ${PROJECT_BINARY_DIR}/pesuiteConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pesuite)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pesuiteConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pesuiteConfig.cmake ${PROJECT_BINARY_DIR}/pesuiteConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pesuite)

# `cmake --install` gives a package: find_package(pesuite) in another project gets pesuite::heads,
# pesuite::graph, pesuite::datasets, pesuite::vision, pesuite::experiments (and pesuite::imageio,
# pesuite::plot when built with OpenCV) with their dependencies.
include(CMakePackageConfigHelpers)
set(PESUITE_EXPORTED pesuite_heads pesuite_graph pesuite_datasets pesuite_vision pesuite_experiments)
if(PESUITE_HAVE_OPENCV)
  list(APPEND PESUITE_EXPORTED pesuite_imageio pesuite_plot)
endif()
install(TARGETS ${PESUITE_EXPORTED} EXPORT pesuiteTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(dir heads graph datasets vision experiments)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
install(EXPORT pesuiteTargets NAMESPACE pesuite:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pesuite)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pesuiteConfig.cmake.in
  ${PROJECT_BINARY_DIR}/pesuiteConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pesuite)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pesuiteConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pesuiteConfig.cmake ${PROJECT_BINARY_DIR}/pesuiteConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pesuite)

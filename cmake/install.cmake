# Installation: the header, both libraries, pprofd-demo, a pkg-config file
# and a relocatable CMake package, so that a program outside this tree
# builds against an installed pprofd either way:
#
#   cc app.c $(pkg-config --cflags --libs pprofd)
#   find_package(pprofd 0.1 REQUIRED)  +  target_link_libraries(app pprofd::pprofd)
#
# `cmake --install build --prefix P` may choose the prefix at install time:
# nothing below writes an absolute install path into a file.

include(CMakePackageConfigHelpers)

set(PPROFD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pprofd)
set(PPROFD_PKGCONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Before 1.0 a minor release may change the ABI (pprofd_options grows), so
# the soname and the CMake version check both carry the minor number:
# libpprofd.so.0.1, and find_package(pprofd 0.1) refuses 0.2.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(PPROFD_SOVERSION 0.${PROJECT_VERSION_MINOR})
  set(PPROFD_COMPATIBILITY SameMinorVersion)
else()
  set(PPROFD_SOVERSION ${PROJECT_VERSION_MAJOR})
  set(PPROFD_COMPATIBILITY SameMajorVersion)
endif()
set_target_properties(pprofd PROPERTIES SOVERSION ${PPROFD_SOVERSION})

set_target_properties(pprofd_static PROPERTIES EXPORT_NAME pprofd_static)
set_target_properties(pprofd PROPERTIES EXPORT_NAME pprofd)

# The installed demo finds the installed library next to it, wherever the
# prefix is.
file(RELATIVE_PATH PPROFD_BIN_TO_LIB
  /prefix/${CMAKE_INSTALL_BINDIR} /prefix/${CMAKE_INSTALL_LIBDIR})
set_target_properties(pprofd-demo PROPERTIES INSTALL_RPATH "$ORIGIN/${PPROFD_BIN_TO_LIB}")

install(TARGETS pprofd pprofd_static
  EXPORT pprofdTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/pprofd.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS pprofd-demo RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(EXPORT pprofdTargets
  NAMESPACE pprofd::
  DESTINATION ${PPROFD_CMAKE_DIR})
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/pprofdConfig.cmake.in
  ${PROJECT_BINARY_DIR}/pprofdConfig.cmake
  INSTALL_DESTINATION ${PPROFD_CMAKE_DIR}
  NO_SET_AND_CHECK_MACRO)
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/pprofdConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY ${PPROFD_COMPATIBILITY})
install(FILES
  ${PROJECT_BINARY_DIR}/pprofdConfig.cmake
  ${PROJECT_BINARY_DIR}/pprofdConfigVersion.cmake
  DESTINATION ${PPROFD_CMAKE_DIR})

# pprofd.pc finds its prefix from where it lies (${pcfiledir}), so the
# same file serves any --prefix and any DESTDIR.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(PPROFD_PC_PREFIX ${CMAKE_INSTALL_PREFIX})
  set(PPROFD_PC_LIBDIR ${CMAKE_INSTALL_FULL_LIBDIR})
  set(PPROFD_PC_INCLUDEDIR ${CMAKE_INSTALL_FULL_INCLUDEDIR})
else()
  file(RELATIVE_PATH PPROFD_PC_TO_PREFIX /prefix/${PPROFD_PKGCONFIG_DIR} /prefix)
  string(REGEX REPLACE "/$" "" PPROFD_PC_TO_PREFIX "${PPROFD_PC_TO_PREFIX}")
  set(PPROFD_PC_PREFIX "\${pcfiledir}/${PPROFD_PC_TO_PREFIX}")
  set(PPROFD_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(PPROFD_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/pprofd.pc.in ${PROJECT_BINARY_DIR}/pprofd.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pprofd.pc DESTINATION ${PPROFD_PKGCONFIG_DIR})

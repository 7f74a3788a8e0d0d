# The INTERFACE target zdd_version: common/version.hpp (zdd_build::version_line) for --version,
# regenerated at every build so `git describe` follows the checkout without a reconfigure.
find_package(Git QUIET)
set(ZDD_GENERATED_DIR "${PROJECT_BINARY_DIR}/generated")
set(ZDD_VERSION_HEADER "${ZDD_GENERATED_DIR}/common/version.hpp")
add_custom_target(zdd_version_header
  COMMAND "${CMAKE_COMMAND}" "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}"
          "-DIN=${PROJECT_SOURCE_DIR}/userspace/common/version.hpp.in" "-DOUT=${ZDD_VERSION_HEADER}"
          "-DPROJECT_VERSION=${PROJECT_VERSION}" "-DGIT_EXECUTABLE=${GIT_EXECUTABLE}"
          -P "${PROJECT_SOURCE_DIR}/cmake/version_header.cmake"
  BYPRODUCTS "${ZDD_VERSION_HEADER}"
  VERBATIM)
add_library(zdd_version INTERFACE)
target_include_directories(zdd_version INTERFACE "${ZDD_GENERATED_DIR}")
add_dependencies(zdd_version zdd_version_header)

# Script mode (cmake -P), run at every build by the zdd_version_header target (cmake/Version.cmake):
# writes OUT from IN with PROJECT_VERSION and `git describe --always --dirty` of SOURCE_DIR.
# configure_file() leaves OUT untouched when nothing changed, so nothing recompiles then.
set(ZDD_GIT_DESCRIBE "")
if(GIT_EXECUTABLE)
  # Only SOURCE_DIR's own checkout counts: a tarball unpacked inside another repository (a
  # packaging tree, say) must not take that repository's commit.
  execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --show-toplevel
                  WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_VARIABLE top RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0)
    file(REAL_PATH "${top}" top)
    file(REAL_PATH "${SOURCE_DIR}" src)
  endif()
  if(rc EQUAL 0 AND top STREQUAL src)
    execute_process(COMMAND "${GIT_EXECUTABLE}" describe --always --dirty
                    WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_VARIABLE describe RESULT_VARIABLE rc
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(rc EQUAL 0)
      set(ZDD_GIT_DESCRIBE "${describe}")
    endif()
  endif()
endif()
configure_file("${IN}" "${OUT}" @ONLY)

# shellcheck shell=bash
# Sourced by shell tests: the shell side of tests/support/test_support.cpp's skip_or_fail.
# In CI (CI=true or CI=1, as in_ci() reads it) a test that cannot run fails; elsewhere it exits
# 77, which ctest reports as skipped (outside CI only: see tests/CMakeLists.txt).

zdd_in_ci() {
    [[ ${CI:-} == true || ${CI:-} == 1 ]]
}

skip_or_fail() {
    if zdd_in_ci; then
        echo "FAIL (CI): $*" >&2
        exit 1
    fi
    echo "SKIP: $*" >&2
    exit 77
}

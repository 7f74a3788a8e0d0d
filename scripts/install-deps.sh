#!/usr/bin/env bash
# Idempotent install of what zdd needs on Debian 12, by purpose (checked against a
# `debootstrap --variant=minbase` root by the container test, tests/lab/container_lab.sh):
#   --runtime  what a deploy host and the demo need at run time: nginx, curl, ss, ps, setcap
#   --build    compile and package: compilers, BPF tooling, libraries, `file` (CPack's
#              dpkg-shlibdeps step needs it and minimal Debian lacks it)
#   --test     everything scripts/test.sh runs on top: clang-format, fuzz runtimes, wrk,
#              nftables, promtool, shellcheck, vagrant, and debootstrap + systemd-nspawn for
#              the systemd container tests, yamllint + ansible for tests/integrations
# No option: all three (scripts/test.sh, CI). The VM lab's provisioner uses --runtime --build.
# Usage: install-deps.sh [--runtime] [--build] [--test] [--check]
#   --check  list what is missing and exit 1 if anything is, installing nothing
set -euo pipefail

RUNTIME=(nginx-light curl iproute2 procps libcap2-bin)
BUILD=(
  build-essential cmake pkg-config clang llvm file
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev catch2
  libcurl4-openssl-dev libcpp-httplib-dev libssl-dev
)
TEST=(
  clang-format
  libclang-rt-14-dev  # libFuzzer + ASan/UBSan runtimes for fuzz/ (scripts/fuzz.sh)
  wrk nftables prometheus shellcheck vagrant
  strace  # scripts/bench/scale.sh proves a snapshot read the resident monitor (no BPF_PROG_LOAD)
  debootstrap systemd-container  # the Debian 12 container of tests/lab (systemd-nspawn)
  yamllint python3-yaml ansible-core ansible-lint  # integrations/ tests (tests/integrations)
  python3  # the integrations tests and benchmarks read JSON with it (minbase has no python)
)

sets=()
check_only=0
while (($#)); do
  case $1 in
  --runtime) sets+=(RUNTIME) ;;
  --build) sets+=(BUILD) ;;
  --test) sets+=(TEST) ;;
  --check) check_only=1 ;;
  -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-deps: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
((${#sets[@]})) || sets=(RUNTIME BUILD TEST)

PKGS=()
for s in "${sets[@]}"; do
  case $s in
  RUNTIME) PKGS+=("${RUNTIME[@]}") ;;
  BUILD) PKGS+=("${BUILD[@]}") ;;
  TEST) PKGS+=("${TEST[@]}") ;;
  esac
done

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((check_only)); then
  ((${#missing[@]})) || exit 0
  echo "install-deps: missing ${missing[*]}" >&2
  exit 1
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
exit 0

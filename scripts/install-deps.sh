#!/usr/bin/env bash
# Install the Debian 12 packages Ferry builds and tests with, only those missing.
# Usage: scripts/install-deps.sh   (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev   # toolchains, sanitizers, libFuzzer
  libfabric-dev libfabric-bin                                  # the fabric (tcp;ofi_rxm, shm) and fi_pingpong
  libibverbs-dev librdmacm-dev                                 # rdma-core, for verbs builds of libfabric users
  libcmocka-dev                                                # unit-test framework
  libinih-dev                                                  # config-file parsing
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools    # MPI jobs and examples
  munge libmunge-dev                                           # MUNGE credentials (munged, libmunge)
  slurm-wlm                                                    # single-machine Slurm for batch tests
  sqlite3 python3 file tar findutils coreutils procps iproute2 # programs the tests run unmodified
  git make curl                                                # programs the tests run unmodified
  gnuplot-nox                                                  # benchmark plots
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
log=$(mktemp "${TMPDIR:-/tmp}/ferry-apt.XXXXXX")
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
       --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 30 "$log"
  echo "install-deps: apt-get failed (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
echo "install-deps: done"

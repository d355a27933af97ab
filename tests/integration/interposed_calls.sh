#!/usr/bin/env bash
# The calls libferry.so interposes (read/write family, lseek, close, fstat)
# answer as libc does -- results, errno, short reads, EINTR with and without
# SA_RESTART, cancellation, a vfork child -- on a forwarded file and on local
# pipes, with the fast path on and off; and with the fast path on, the
# common read/write path takes no SIGSYS.
#   interposed_calls.sh tcp|shm
source "$(dirname "$0")/lib.sh"
PROV=${1:?usage: interposed_calls.sh tcp|shm}
PROG=$FERRY_BUILD/tests/interposed_calls
# A sanitized build's libferry.so carries the shared ASan runtime, which is
# not first in the list of a preloaded program (harmless elsewhere).
export ASAN_OPTIONS=verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
start_iond "$PROV"
mkdir -p "$LOCAL/ip" "$EXPORT/ip"

timeout -k 5 120 "$PROG" "$LOCAL/ip" >"$T_DIR/local.out" 2>&1 || echo "exit $?" >>"$T_DIR/local.out"
check "natively, every call answers as expected" grep -qx "0 wrong" "$T_DIR/local.out"
for fp in 1 0; do
  FERRY_FASTPATH=$fp fx "$PROG" /pfs/ip >"$T_DIR/fast$fp.out" 2>&1 || echo "exit $?" >>"$T_DIR/fast$fp.out"
  if diff -u "$T_DIR/local.out" "$T_DIR/fast$fp.out"; then
    ok "FERRY_FASTPATH=$fp: interposed calls on /pfs and local fds answer as libc does locally"
  else
    fail "FERRY_FASTPATH=$fp: interposed calls on /pfs and local fds answer as libc does locally"
  fi
done
check "the forwarded file holds what was written" \
  cmp "$LOCAL/ip/interposed.dat" "$EXPORT/ip/interposed.dat"

out=$(FERRY_FASTPATH=1 fx "$PROG" /pfs/ip --no-sigsys 2000 2>&1) || true
echo "$out"
check "read/write/pread/pwrite/lseek on local and forwarded fds take no SIGSYS" \
  grep -q "^no-sigsys: 0 SIGSYS traps in 2000 rounds" <<<"$out"
out=$(LD_PRELOAD=$FERRY_BUILD/tests/libinterposed_preinit.so fx "$PROG" /pfs/ip --no-sigsys 1 2>&1) || true
echo "$out"
check "calls from a constructor that runs before the runtime is armed answer right" \
  grep -q "^preinit: before the runtime was armed: yes; interposed calls: ok" <<<"$out"

# The counter must be able to fail: a read through libc's syscall() (the
# number in a register: no site to rewrite) traps every time.
check "a read(2) through libc's syscall() still traps (the counter counts)" \
  fx "$PROG" /pfs/ip --raw-reads 100

check "ferry-iond stops cleanly on SIGTERM" stop_iond
finish

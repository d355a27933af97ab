# shellcheck shell=bash
# Shared helpers for Ferry's integration tests: start a real ferry-iond on a
# real provider, run programs under ferry-exec, compare with a local run, and
# clean up whatever happens.  Source it; set FERRY_BUILD (ctest does).
set -euo pipefail

: "${FERRY_BUILD:?set FERRY_BUILD to the build tree}"
IOND=$FERRY_BUILD/bin/ferry-iond
FEXEC=$FERRY_BUILD/bin/ferry-exec

# python3 is the interpreter itself, not a version manager's shim: a shim is
# a chain of a dozen shell processes, and under the runtime in a forwarded
# directory each of them opens its own session with the I/O node (about
# 0.5 s apiece), which would make every python check cost seconds.
# PY names it, for commands run where PATH may differ (a test bed node).
if PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) && [ -x "$PY" ]; then
  PATH=$(dirname "$PY"):$PATH
else
  PY=python3
fi
T_PASS=0
T_FAIL=0

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ferry-it.XXXXXX")
EXPORT=$T_DIR/export   # the I/O node's "parallel filesystem"
LOCAL=$T_DIR/local     # the same work done natively, for comparison
mkdir -p "$EXPORT" "$LOCAL"
IOND_PID=
IOND_LOG=$T_DIR/iond.log

cleanup() {
  local rc=$?
  if [ -n "$IOND_PID" ] && kill -0 "$IOND_PID" 2>/dev/null; then
    kill -TERM "$IOND_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$IOND_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$IOND_PID" 2>/dev/null || true
  fi
  if [ $rc -ne 0 ] || [ "$T_FAIL" -ne 0 ]; then
    echo "---- ferry-iond log (last 40 lines) ----"
    tail -n 40 "$IOND_LOG" 2>/dev/null || true
  fi
  # FERRY_TEST_KEEP=1: leave the scratch directory (logs) for a look.
  if [ "${FERRY_TEST_KEEP:-0}" = 1 ]; then echo "kept: $T_DIR"; else rm -rf "$T_DIR"; fi
  exit $rc
}
trap cleanup EXIT

# A test with more to undo sets `trap 'cleanup_with FN' EXIT`: FN first,
# then cleanup, with the test's exit status kept.  errexit is off here: with
# it, restoring a failing status would end the trap before cleanup ran (and
# leave the daemon running).
cleanup_with() {
  local rc=$?
  set +e
  "$@"
  (exit "$rc")
  cleanup
}
trap 'exit 130' INT TERM

# free_tcp_port: a port on 127.0.0.1 nobody listens on right now.
free_tcp_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_iond PROVIDER [extra args]: PROVIDER is tcp or shm.  Sets IONODE_URI.
start_iond() {
  local prov=$1; shift
  case $prov in
    tcp) IONODE_URI="tcp://127.0.0.1:$(free_tcp_port)" ;;
    shm) IONODE_URI="shm://ferry-it-$$-$RANDOM" ;;
    *) echo "start_iond: unknown provider $prov" >&2; return 2 ;;
  esac
  rm -f "$T_DIR/ready"
  "$IOND" --listen "$IONODE_URI" --export "/pfs=$EXPORT" --ready-file "$T_DIR/ready" "$@" \
    >>"$IOND_LOG" 2>&1 &
  IOND_PID=$!
  for _ in $(seq 300); do
    [ -s "$T_DIR/ready" ] && return 0
    kill -0 "$IOND_PID" 2>/dev/null || { echo "ferry-iond exited before ready" >&2; cat "$IOND_LOG" >&2; return 1; }
    sleep 0.1
  done
  echo "ferry-iond not ready after 30 s" >&2
  return 1
}

stop_iond() {
  [ -n "$IOND_PID" ] || return 0
  kill -TERM "$IOND_PID"
  local rc=0
  wait "$IOND_PID" || rc=$?
  IOND_PID=
  return $rc
}

# fx CMD...: run CMD under the runtime with /pfs forwarded (60 s limit).
fx() {
  timeout -k 5 120 "$FEXEC" --ionode "$IONODE_URI" --mount /pfs -- "$@"
}

ok()   { T_PASS=$((T_PASS + 1)); echo "ok   - $*"; }
fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL - $*"; }

# check NAME CMD...: run a shell condition and record the result.
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}

# check_logged NAME LOG CMD...: CMD's output goes to LOG; on failure its
# last lines are shown.
check_logged() {
  local name=$1 log=$2; shift 2
  if "$@" >"$log" 2>&1; then ok "$name"; else fail "$name"; tail -n 30 "$log"; fi
}

finish() {
  echo "$T_PASS passed, $T_FAIL failed"
  [ "$T_FAIL" -eq 0 ]
}

# testbed_require CMD...: a test bed test skips (77) unless it runs as root
# and every CMD is installed.
testbed_require() {
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: the test bed needs root"; exit 77; }
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "SKIP: no $t"; exit 77; }
  done
}

# pid_on NODE COMM: the pid of a process named COMM in the network namespace
# of test bed $TB_NAME's NODE.
pid_on() {
  local p
  for p in $(ip netns pids "ferry-$TB_NAME-$1"); do
    [ "$(cat /proc/$p/comm 2>/dev/null)" = "$2" ] && { echo "$p"; return 0; }
  done
  return 1
}

# fx_fails NAME CMD...: CMD under Ferry must fail (non-zero exit).
fx_fails() {
  local name=$1; shift
  if fx "$@" >/dev/null 2>&1; then fail "$name"; else ok "$name"; fi
}

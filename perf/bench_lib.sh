# perf/bench_lib.sh: what the perf/run_*.sh scripts share (sourced, not run).
# Each script sets SCRIPT (its name, for messages) and REPO before sourcing.

die() { echo "$SCRIPT: $*" >&2; exit 1; }

# bench_find_build PROGRAM: echo the build tree that has bin/PROGRAM
# ($FERRY_BUILD or --build first, then build-perf, then build).
bench_find_build() {
  local d
  for d in "$REPO/build-perf" "$REPO/build"; do
    [ -x "$d/bin/$1" ] && { echo "$d"; return 0; }
  done
  return 1
}

# bench_machine FILE [KEY VALUE]...: the date, source revision, CPU, cores,
# kernel, glibc and load into FILE, then the extra KEY: VALUE lines; prints
# the file and warns when the machine is busy (the figures are latencies of
# microseconds, and anything else running shows in them).
bench_machine() {
  local file=$1 load
  shift
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  {
    echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "source:    $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "cpu:       $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "cores:     $(nproc)"
    echo "kernel:    $(uname -r)"
    echo "glibc:     $(getconf GNU_LIBC_VERSION 2>/dev/null || echo unknown)"
    echo "load:      $load (1, 5, 15 min, at the start)"
    while [ $# -ge 2 ]; do
      printf '%-10s %s\n' "$1:" "$2"
      shift 2
    done
  } >"$file"
  cat "$file"
  if awk -v l="${load%% *}" -v c="$(nproc)" 'BEGIN { exit !(l > 0.25 * c) }'; then
    echo "WARNING: the machine is busy (load ${load%% *} on $(nproc) cores): figures will be noisier" |
      tee -a "$file" >&2
  fi
}

# bench_free_tcp_uri: a tcp:// address on a port free now.
bench_free_tcp_uri() {
  echo "tcp://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
}

# iond_start WORKDIR LOG URI [FERRY-IOND OPTIONS...]: start $IOND (set by
# the script) and wait until it is ready; sets IOND_PID and IOND_URI (the
# address its ready line names: tcp port 0 becomes the real one).  Prefix
# the command with $IOND_WRAP (e.g. taskset) when set.
iond_start() {
  local work=$1 log=$2 uri=$3
  shift 3
  rm -f "$work/ready"
  ${IOND_WRAP:-} "$IOND" --listen "$uri" --ready-file "$work/ready" "$@" >>"$log" 2>&1 &
  IOND_PID=$!
  for _ in $(seq 300); do
    [ -s "$work/ready" ] && break
    kill -0 "$IOND_PID" 2>/dev/null || die "ferry-iond exited before ready, see $log"
    sleep 0.05
  done
  [ -s "$work/ready" ] || die "ferry-iond not ready after 15 s, see $log"
  IOND_URI=$(sed -n 's/.*listening on \([^ ]*\) (.*/\1/p' "$work/ready")
  [ -n "$IOND_URI" ] || die "no address in the ready line: $(cat "$work/ready")"
}

# iond_stop: stop it and fail when it did not exit cleanly.
iond_stop() {
  local rc=0
  kill -TERM "$IOND_PID"
  wait "$IOND_PID" || rc=$?
  IOND_PID=
  [ $rc -eq 0 ] || die "ferry-iond exited with status $rc"
}

# iond_kill: for traps; only the daemon this script started.
iond_kill() {
  if [ -n "${IOND_PID:-}" ]; then
    kill -TERM "$IOND_PID" 2>/dev/null || true
    wait "$IOND_PID" 2>/dev/null || true
    IOND_PID=
  fi
}

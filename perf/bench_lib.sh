# perf/bench_lib.sh: what the perf/run_*.sh scripts share (sourced, not run).
# Each script sets SCRIPT (its name, for messages) and REPO before sourcing.

die() { echo "$SCRIPT: $*" >&2; exit 1; }

# bench_find_build PROGRAM: echo the build tree that has bin/PROGRAM
# (build-perf, then build; callers take --build or $FERRY_BUILD first).
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

# ---- fi_pingpong, the fabric's own figure.  A script's cleanup stops
# $PP_PID (the fi_pingpong server) and $FG_PID (what fg runs). ----

# stop_pid PID: SIGTERM, and SIGKILL after 2 s (fi_pingpong blocks SIGTERM).
stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 20); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# fg CMD...: run CMD and wait for it, in a way that lets a SIGTERM or SIGINT
# to this script stop it (bash runs traps only between commands, so a
# plain foreground command would hold the trap until it ends).
fg() {
  local rc=0
  "$@" &
  FG_PID=$!
  wait "$FG_PID" || rc=$?
  FG_PID=
  return $rc
}

# pp_run PROV SIZE ITERS LOG: one fi_pingpong server and client; sets PP_US
# to the client's "usec/xfer" (elapsed / iterations / 2: a one-way time).
# Not run in a subshell, so the EXIT trap knows the server's PID.
pp_run() {
  local fprov=$1 size=$2 iters=$3 log=$4 port args
  args=(-p "$fprov" -e rdm -S "$size" -I "$iters")
  [ "$fprov" = "tcp;ofi_rxm" ] && args+=(-d lo) # the interface Ferry's tcp://127.0.0.1 uses
  PP_US=
  port=$(free_port) || return 1
  fi_pingpong "${args[@]}" -B "$port" >"$log.server" 2>&1 &
  PP_PID=$!
  for _ in $(seq 200); do
    [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && break
    kill -0 "$PP_PID" 2>/dev/null || break
    sleep 0.02
  done
  if ! fg timeout -k 2 120 fi_pingpong "${args[@]}" -P "$port" 127.0.0.1 >"$log" 2>&1; then
    stop_pid "$PP_PID"
    PP_PID=
    echo "fi_pingpong failed, see $log" >&2
    return 1
  fi
  wait "$PP_PID" || true
  PP_PID=
  # The line after the header: bytes #sent #ack total time MB/sec usec/xfer Mxfers/sec
  PP_US=$(awk '$1 == "bytes" { hdr = 1; next } hdr && NF >= 8 { print $7; exit }' "$log")
  [ -n "$PP_US" ] || { echo "cannot parse $log" >&2; return 1; }
}

# pp_retry: pp_run up to three times.  fi_pingpong on shm now and then
# fails to enable its endpoint (EBUSY) on a busy machine; a failed attempt
# keeps its output next to the log as .failed-N.
pp_retry() {
  local try
  for try in 1 2 3; do
    pp_run "$@" && return 0
    mv -f "$4" "$4.failed-$try" 2>/dev/null || true
    sleep 0.5
  done
  return 1
}

# pp_oneway PROV SIZE ITERS TAG: sets OW (one-way µs, the connection set-up
# and first touch subtracted) and OW_RAW (fi_pingpong's own mean).
#   elapsed(N) = 2 N usec/xfer(N);  one-way = (elapsed(N) - elapsed(1)) / (2 (N - 1))
pp_oneway() {
  local fprov=$1 size=$2 iters=$3 tag=$4 raw one
  pp_retry "$fprov" "$size" "$iters" "$OUT/raw/fi_pingpong-$tag-$size.txt" || return 1
  raw=$PP_US
  pp_retry "$fprov" "$size" 1 "$OUT/raw/fi_pingpong-$tag-$size-1iter.txt" || return 1
  one=$PP_US
  OW_RAW=$raw
  OW=$(awk -v r="$raw" -v o="$one" -v n="$iters" 'BEGIN {
    v = (2 * n * r - 2 * o) / (2 * (n - 1));
    printf "%.3f", (v > 0 ? v : r) }')
}

# bench_plot_report OUT CSV PLOTTER ARGS...: draw the plots with PLOTTER
# (a perf/plot_*.sh, given ARGS; its log in OUT/raw/gnuplot.log) when gnuplot
# is there, then name the results and every .png of ARGS that was written.
bench_plot_report() {
  local out=$1 csv=$2 plotter=$3 a; shift 3
  if command -v gnuplot >/dev/null; then
    "$HERE/$plotter" "$@" >"$out/raw/gnuplot.log" 2>&1 ||
      echo "$SCRIPT: plot failed, see $out/raw/gnuplot.log" >&2
  else
    echo "$SCRIPT: gnuplot not found: no plots" >&2
  fi
  echo
  echo "results: $csv"
  for a in "$@"; do
    case $a in *.png) [ -f "$a" ] && echo "plot:    $a" ;; esac
  done
  return 0
}

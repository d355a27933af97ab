#!/usr/bin/env bash
# Several nodes on one machine (tests/testbed): 4 compute nodes, 2 I/O nodes.
# ferry-run starts a ferry-iond on each I/O node through mpirun, runs MPI
# jobs of 8 ranks over tcp across the namespaces (POSIX I/O, MPI-IO with OMPIO
# and ROMIO, parallel HDF5, h5dump), each rank served by its partition's I/O
# node; then jobs that end badly (ferry-run gets SIGTERM, a rank is killed, a
# daemon is killed) must leave nothing behind.
source "$(dirname "$0")/lib.sh"
testbed_require mpirun
DEMO=$FERRY_BUILD/bin/mpi_io_demo
FRUN=$FERRY_BUILD/bin/ferry-run
TB=$FERRY_SRC/tests/testbed/testbed.sh
[ -x "$DEMO" ] && [ -x "$FRUN" ] || { echo "mpi_io_demo or ferry-run not built"; exit 1; }

TB_NAME=mn$$
export FERRY_TESTBED_DIR=$T_DIR/testbed
STATE=$FERRY_TESTBED_DIR/$TB_NAME
PFS=$T_DIR/pfs
# Whatever a failed check left running dies with the namespaces.
tb_down() { "$TB" down --name "$TB_NAME" >/dev/null 2>&1; }
trap 'cleanup_with tb_down' EXIT

# Leftovers of this test bed: processes in its namespaces, and shared-memory
# segments named after its nodes or its ranks' pids (OpenMPI's, the rpc's).
leftovers() {
  local n ns pids all=
  for n in io1 io2 c1 c2 c3 c4; do
    ns=ferry-$TB_NAME-$n
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -z "$pids" ] || all+="$n: $(ps -o pid=,comm= -p ${pids// /,} | tr '\n' ' ') "
  done
  for f in /dev/shm/*; do
    case $f in
      *.io[12].*|*.c[1-4].*) all+="$f " ;;
    esac
    for p in $RANK_PIDS; do
      case $f in *-$p-*|*.$p|*.$p.*) all+="$f " ;; esac
    done
  done
  echo "$all"
}
nothing_left() {
  local l
  for _ in $(seq 50); do
    l=$(leftovers)
    [ -z "$l" ] && return 0
    sleep 0.2
  done
  echo "left behind: $l"
  return 1
}

"$TB" up --name "$TB_NAME" --compute 4 --ionodes 2 --pfs "$PFS"
HOSTFILE=$STATE/hostfile
on_c1() { timeout -k 5 120 "$TB" exec --name "$TB_NAME" c1 "$@"; }
RANK_PIDS=

# ---- a job that succeeds --------------------------------------------------
LOGS=$T_DIR/logs-ok
out=$(on_c1 "$FRUN" --hostfile "$HOSTFILE" --ratio 2 --auth none --log-dir "$LOGS" \
      --log-level info --export "/pfs=$PFS" -- \
      mpirun --allow-run-as-root -np 8 "$DEMO" /pfs/demo 2 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ]; then echo "$out" | grep -v "^------" | tail -n 40; fi
check "ferry-run exits with the job's status 0" test "$rc" -eq 0
check "every rank verified its neighbour's data" grep -q "8 ranks .*all data verified" <<<"$out"
check "8 rank files are in the exported directory" test "$(ls "$PFS/demo" | grep -c '^rank-[0-7]\.dat$')" -eq 8
check "the shared file is complete" test "$(stat -c %s "$PFS/demo/shared.dat")" -eq $((8 * 2 << 20))

# Which rank ran where and which I/O node it was given (ferry-exec at info).
placement=$(grep -o 'ferry-exec: host [a-z0-9]* pid [0-9]*: I/O node [^ ]*' <<<"$out" || true)
RANK_PIDS=$(awk '{print $5}' <<<"$placement" | tr -d ':' | tr '\n' ' ')
check "8 ranks started through ferry-exec" test "$(grep -c . <<<"$placement")" -eq 8
check "2 ranks on each compute node" \
  test "$(awk '{print $3}' <<<"$placement" | sort | uniq -c | awk '{print $1}' | sort -u)" = 2
# partition_ok IONODE IP HOSTS...: the ranks of HOSTS dialed IONODE's address,
# and IONODE's daemon served exactly those ranks (its sessions' pids).
partition_ok() {
  local ion=$1 ip=$2; shift 2
  local log=$LOGS/ferry-iond-$ion.log want got h
  want=$(for h in "$@"; do awk -v h="$h" '$3 == h {print $5}' <<<"$placement"; done | tr -d ':' | sort -n)
  got=$(grep -o 'session opened: pid [0-9]*' "$log" | awk '{print $4}' | sort -n)
  [ -n "$want" ] && [ "$want" = "$got" ] || { echo "$ion served pids [$got], expected [$want]"; return 1; }
  for h in "$@"; do
    awk -v h="$h" '$3 == h {print $8}' <<<"$placement" | grep -vq "^tcp://$ip:" && \
      { echo "a rank on $h was not given $ion ($ip)"; return 1; }
  done
  grep -q "stats (shutdown): calls [0-9]* errors 0 .* sessions open 0 total 4 " "$log" || \
    { echo "$ion stats:"; grep "stats (shutdown): calls" "$log"; return 1; }
}
check "io1 served exactly the ranks of c1 and c2" partition_ok io1 10.9.0.11 c1 c2
check "io2 served exactly the ranks of c3 and c4" partition_ok io2 10.9.0.12 c3 c4
check "both daemons stopped cleanly" \
  test "$(cat "$LOGS"/ferry-iond-io*.log | grep -c 'exiting with status 0')" -eq 2
check "nothing is left after the job" nothing_left

# ---- MPI-IO (OMPIO and ROMIO) and parallel HDF5 across the nodes -------------
# run_job NAME MPIRUN-ARGS...: ferry-run on c1 with its logs in logs-NAME;
# sets rc, out, LOGS and placement (host, pid, I/O node of every rank).
run_job() {
  local name=$1; shift
  LOGS=$T_DIR/logs-$name
  out=$(on_c1 "$FRUN" --hostfile "$HOSTFILE" --ratio 2 --auth none --log-dir "$LOGS" \
        --log-level info --export "/pfs=$PFS" -- mpirun --allow-run-as-root "$@" 2>&1) && rc=0 || rc=$?
  [ "$rc" -eq 0 ] || echo "$out" | grep -v "^------" | grep -v "INFO" | tail -n 30
  placement=$(grep -o 'ferry-exec: host [a-z0-9]* pid [0-9]*: I/O node [^ ]*' <<<"$out" || true)
}
# served_own NAME: each I/O node's sessions came from exactly the ranks on
# its partition's compute nodes (io1: c1 c2, io2: c3 c4), which dialed it.
served_own() {
  local ion ip hosts want got h
  for ion in io1 io2; do
    case $ion in io1) ip=10.9.0.11; hosts="c1 c2" ;; io2) ip=10.9.0.12; hosts="c3 c4" ;; esac
    want=$(for h in $hosts; do awk -v h="$h" '$3 == h {print $5}' <<<"$placement"; done | tr -d ':' | sort -nu)
    got=$(grep -o 'session opened: pid [0-9]*' "$LOGS/ferry-iond-$ion.log" 2>/dev/null | awk '{print $4}' | sort -nu)
    [ -n "$want" ] || { echo "$1: no rank ran on $hosts"; return 1; }
    [ "$want" = "$got" ] || { echo "$1: $ion served pids [$got], its partition's ranks are [$want]"; return 1; }
    for h in $hosts; do
      if awk -v h="$h" '$3 == h {print $8}' <<<"$placement" | grep -vq "^tcp://$ip:"; then
        echo "$1: a rank on $h was not given $ion"; return 1
      fi
    done
  done
}
declare -A io_flags=([ompio]="--mca io ompio --mca fcoll_vulcan_async_io 2" [romio321]="--mca io romio321")
if [ -x "$FERRY_BUILD/bin/mpiio_check" ]; then
  for io in ompio romio321; do
    # shellcheck disable=SC2206
    run_job "$io" -np 8 ${io_flags[$io]} "$FERRY_BUILD/bin/mpiio_check" "/pfs/$io" 64
    check "$io: 8 ranks on 4 nodes verified all data" \
      grep -q "^mpiio_check: 8 ranks .*all data verified" <<<"$out"
    check "$io: 8 rank files and the shared file in the exported directory" \
      test "$(ls "$PFS/$io" | grep -c '^rank-')" -eq 8 -a "$(stat -c %s "$PFS/$io/shared.dat" 2>/dev/null)" = $((3 * 8 * 64 * 1024))
    check "$io: each I/O node served its own partition" served_own "$io"
  done
fi
if [ -x "$FERRY_BUILD/bin/h5_parallel" ] && command -v h5dump >/dev/null; then
  run_job hdf5 -np 8 "$FERRY_BUILD/bin/h5_parallel" /pfs/file.h5 32
  check "hdf5: 8 ranks wrote and read collectively, all values verified" \
    grep -q "^h5_parallel: 8 ranks .*collective, all values verified" <<<"$out"
  check "hdf5: each I/O node served its own partition" served_own hdf5
  run_job h5dump -np 1 --host c3 h5dump -H /pfs/file.h5
  check "h5dump on c3 (through io2) reads the dataset's shape" \
    grep -q "DATASPACE  SIMPLE { ( 256, 16 ) / ( 256, 16 ) }" <<<"$out"
  check "h5dump's session was on io2 only" \
    test "$(grep -c 'session opened' "$LOGS/ferry-iond-io2.log")" -ge 1 -a \
         "$(grep -c 'session opened' "$LOGS/ferry-iond-io1.log")" -eq 0
fi
check "nothing is left after the MPI-IO and HDF5 jobs" nothing_left

# ---- jobs that end badly ----------------------------------------------------
# start_long_job DIR: ranks that write a file each under /pfs/DIR and sleep.
start_long_job() {
  local dir=$1
  mkdir -p "$PFS/$dir"
  LOGS=$T_DIR/logs-$dir
  "$TB" exec --name "$TB_NAME" c1 "$FRUN" --hostfile "$HOSTFILE" --ratio 2 --auth none \
    --log-dir "$LOGS" --log-level info --export "/pfs=$PFS" -- \
    mpirun --allow-run-as-root -np 8 sh -c "echo \$OMPI_COMM_WORLD_RANK > /pfs/$dir/r\$OMPI_COMM_WORLD_RANK && exec sleep 300" \
    >"$T_DIR/$dir.out" 2>&1 &
  JOB=$!
  for _ in $(seq 600); do
    [ "$(ls "$PFS/$dir" | wc -l)" -eq 8 ] && break
    kill -0 $JOB 2>/dev/null || break
    sleep 0.1
  done
  RANK_PIDS=$(grep -o 'ferry-exec: host [a-z0-9]* pid [0-9]*' "$T_DIR/$dir.out" | awk '{print $5}' | tr '\n' ' ')
  [ "$(ls "$PFS/$dir" | wc -l)" -eq 8 ] || { echo "the ranks did not start:"; tail -n 30 "$T_DIR/$dir.out"; return 1; }
}
# wait_job: rc = ferry-run's status (124 when it did not end within 60 s).
wait_job() {
  for _ in $(seq 600); do
    kill -0 $JOB 2>/dev/null || { rc=0; wait $JOB || rc=$?; return 0; }
    sleep 0.1
  done
  kill -KILL $JOB 2>/dev/null || true
  rc=124
}

start_long_job term
check "8 ranks were running before SIGTERM" test "$(ls "$PFS/term" | wc -l)" -eq 8
kill -TERM $JOB
wait_job
check "ferry-run ends on SIGTERM with the job's failure ($rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "ferry-run said it stopped the job" grep -q "stopping the job" "$T_DIR/term.out"
check "the daemons printed their stats and exited (SIGTERM)" \
  test "$(cat "$LOGS"/ferry-iond-io*.log | grep -c 'stats (shutdown): calls')" -eq 2
check "nothing is left after SIGTERM to ferry-run" nothing_left

start_long_job rank
victim=$(pid_on c3 sleep || true)
check "found a rank on c3" test -n "$victim"
[ -z "$victim" ] || kill -KILL "$victim"
wait_job
grep -v "^------" "$T_DIR/rank.out" | grep -v "ferry-exec: host" | tail -n 12
check "ferry-run fails when a rank is killed ($rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "nothing is left after a rank was killed" nothing_left

start_long_job daemon
victim=$(pid_on io2 ferry-iond || true)
check "found the daemon on io2" test -n "$victim"
[ -z "$victim" ] || kill -KILL "$victim"
wait_job
grep -v "^------" "$T_DIR/daemon.out" | grep -v "ferry-exec: host" | tail -n 12
check "ferry-run fails when a daemon dies ($rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "ferry-run named the daemons' end" grep -q "I/O node daemons stopped while the job ran" "$T_DIR/daemon.out"
check "nothing is left after a daemon died" nothing_left

"$TB" down --name "$TB_NAME" >/dev/null
check "the test bed is gone" test -z "$(ip netns list | grep "ferry-$TB_NAME-" || true)"
finish

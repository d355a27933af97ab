#!/usr/bin/env bash
# ferry-run on one machine and its rules, without a test bed: --local jobs
# (mpirun, a plain program), exit status, daemons that fail to start, system
# daemons from --config, SIGTERM, partition planning (--dry-run) and
# ferry-exec's FERRY_IONODE_MAP.
source "$(dirname "$0")/lib.sh"
FRUN=$FERRY_BUILD/bin/ferry-run
DEMO=$FERRY_BUILD/bin/mpi_io_demo
unset SLURM_JOB_NODELIST SLURM_NODELIST SLURM_JOB_ID
mpi_flags=(--oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)
fr() { timeout -k 5 120 "$FRUN" "$@"; }
# no_daemon_left: no ferry-iond serving this test's export (pgrep leaves itself out).
no_daemon_left() { ! pgrep -f "ferry-iond .*--export /pfs=$EXPORT" >/dev/null; }

# ---- command line ---------------------------------------------------------
check "--help exits 0 and names --ratio" sh -c "'$FRUN' --help | grep -q -- --ratio"
rc=0; fr --local -- true 2>"$T_DIR/err" || rc=$?
check "no --export is a usage error (2)" test "$rc" -eq 2
rc=0; fr --export "/pfs=$EXPORT" -- true 2>"$T_DIR/err" || rc=$?
check "no allocation is an error naming the choices" \
  sh -c "test $rc -eq 1 && grep -q 'give --local or --hostfile' '$T_DIR/err'"

# ---- partitions -------------------------------------------------------------
printf 'n%s slots=2\n' 1 2 3 4 5 6 7 >"$T_DIR/hosts"
plan=$(fr -n --hostfile "$T_DIR/hosts" --ratio 2 --export "/pfs=$EXPORT" -- mpirun x 2>&1)
check "7 nodes at ratio 2: the first 3 serve, evenly" \
  test "$(grep partition <<<"$plan" | sed 's/.*I\/O node //')" = "n1 serves n4,n5
n2 serves n6
n3 serves n7"
check "the daemons start through mpirun on the I/O nodes" \
  grep -q "mpirun --hostfile $T_DIR/hosts --host n1,n2,n3 -np 3 " <<<"$plan"
rc=0; fr -n --hostfile "$T_DIR/hosts" --ratio 2 --ionodes n7 --export "/pfs=$EXPORT" -- mpirun x 2>"$T_DIR/err" || rc=$?
check "too few --ionodes for the ratio is an error" \
  sh -c "test $rc -eq 1 && grep -q 'need 3 I/O nodes' '$T_DIR/err'"
rc=0; fr -n --hostfile "$T_DIR/hosts" --ionodes n9 --export "/pfs=$EXPORT" -- mpirun x 2>"$T_DIR/err" || rc=$?
check "an I/O node outside the allocation is named" grep -q "n9 is not in the allocation" "$T_DIR/err"
plan=$(SLURM_JOB_NODELIST='c[01-03],io1' fr -n --ionodes io1 --export "/pfs=$EXPORT" -- srun x 2>&1)
check "a Slurm node list is expanded (c01..c03 on io1)" grep -q "I/O node io1 serves c01,c02,c03" <<<"$plan"
check "the daemons start through srun on the I/O nodes" grep -q "srun --nodes=1 --ntasks=1 .*--nodelist=io1 " <<<"$plan"

# ---- --local jobs -------------------------------------------------------------
if [ -x "$DEMO" ]; then
  out=$(fr --local --auth none --export "/pfs=$EXPORT" -- mpirun "${mpi_flags[@]}" -np 3 "$DEMO" /pfs/local 1 2>&1) && rc=0 || rc=$?
  [ "$rc" -eq 0 ] || echo "$out" | tail -n 20
  check "--local mpirun job: exit 0" test "$rc" -eq 0
  check "--local mpirun job: data verified" grep -q 'all data verified' <<<"$out"
  check "--local mpirun job: the files are in the export" test "$(ls "$EXPORT/local" | grep -c '^rank-')" -eq 3
fi
fr --local --export "/pfs=$EXPORT" -- sh -c 'echo plain > /pfs/plain.txt'
check "--local plain program writes through the daemon" grep -qx plain "$EXPORT/plain.txt"
rc=0; fr --local --export "/pfs=$EXPORT" -- sh -c 'exit 7' || rc=$?
check "ferry-run exits with the job's status (7)" test "$rc" -eq 7
check "no daemon is left" no_daemon_left

rc=0; fr --local --export "/pfs=$EXPORT" --iond-arg=--workers=none -- true 2>"$T_DIR/err" || rc=$?
check "a daemon that cannot start: ferry-run fails and says so" \
  sh -c "test $rc -eq 1 && grep -q 'I/O node localhost: ferry-iond stopped before it was ready' '$T_DIR/err'"

# A daemon that never gets ready: progress lines, then an error naming it,
# and the daemon is stopped (a ferry-run copy next to a ferry-iond that
# only sleeps; ferry-run finds its programs next to itself).
mkdir -p "$T_DIR/fake"
cp "$FRUN" "$T_DIR/fake/ferry-run"
ln -s "$FEXEC" "$T_DIR/fake/ferry-exec"
printf '#!/bin/bash\nexec -a fake-iond-%s sleep 300\n' "$$" >"$T_DIR/fake/ferry-iond"
chmod +x "$T_DIR/fake/ferry-iond"
rc=0; timeout -k 5 60 "$T_DIR/fake/ferry-run" --local --ready-timeout 3 --export "/pfs=$EXPORT" -- true \
  2>"$T_DIR/err" || rc=$?
cat "$T_DIR/err"
check "a daemon not ready in time: ferry-run fails (1)" test "$rc" -eq 1
check "a progress line while waiting" grep -q "waiting for I/O nodes: 0 of 1 ready (waiting for localhost)" "$T_DIR/err"
check "the error names the I/O node, its address and the time" \
  grep -q "I/O node localhost (tcp://127.0.0.1:0) not ready after 3 s" "$T_DIR/err"
no_fake_daemon() { ! pgrep -f "fake-iond-$$" >/dev/null; }
check "the daemon that was not ready is stopped" no_fake_daemon

# SIGTERM while the job runs: the job and the daemon stop.
"$FRUN" --local --export "/pfs=$EXPORT" -- sh -c 'echo up > /pfs/up.txt; exec sleep 300' >"$T_DIR/term" 2>&1 &
job=$!
# Until the job is sleep itself (ferry-exec execs sh, which execs sleep).
job_is_sleeping() { local c; for c in $(pgrep -P $job); do [ "$(cat /proc/$c/comm 2>/dev/null)" = sleep ] && return 0; done; return 1; }
for _ in $(seq 300); do job_is_sleeping && break; sleep 0.1; done
check "the long job started" test -s "$EXPORT/up.txt"
check "the long job sleeps" job_is_sleeping
kill -TERM $job
rc=0; wait $job || rc=$?
# The job's own status: killed by SIGTERM (143), or what the program made of
# it (a signal during the runtime's start in the freshly exec'd sleep).
said=$(sed -n 's/^ferry-run: the job ended with //p' "$T_DIR/term")
case $said in
  "signal Terminated") want=143 ;;
  "exit status "*) want=${said#exit status } ;;
  *) want=none; cat "$T_DIR/term" ;;
esac
check "SIGTERM: ferry-run stopped the job" grep -q "Terminated: stopping the job" "$T_DIR/term"
check "SIGTERM: ferry-run ends with the job's status ($rc; the job: $said)" \
  test "$rc" = "$want" -a "$rc" -ne 0
check "SIGTERM: no daemon is left" no_daemon_left

# SIGKILL to ferry-run (nothing it can clean up): its daemon and its job get
# SIGTERM from the kernel (parent-death signal) and stop.
rm -f "$EXPORT/up.txt"
"$FRUN" --local --export "/pfs=$EXPORT" -- sh -c 'echo up > /pfs/up.txt; exec sleep 300' >"$T_DIR/kill9" 2>&1 &
job=$!
for _ in $(seq 300); do job_is_sleeping && break; sleep 0.1; done
check "the job to SIGKILL ferry-run under sleeps" job_is_sleeping
sleeper=$(for c in $(pgrep -P $job); do [ "$(cat /proc/$c/comm 2>/dev/null)" = sleep ] && echo "$c"; done)
kill -KILL $job
wait $job 2>/dev/null || true
gone() { for _ in $(seq 100); do no_daemon_left && ! kill -0 "$sleeper" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
check "SIGKILL to ferry-run: its daemon and its job stop" gone

# ---- system daemons (--config) ------------------------------------------------
start_iond tcp
printf '[run]\nionode = %s\nmount = /pfs\n' "$IONODE_URI" >"$T_DIR/ferry.conf"
echo localhost >"$T_DIR/one"
fr --config "$T_DIR/ferry.conf" --hostfile "$T_DIR/one" -- sh -c 'echo sys > /pfs/sys.txt'
check "--config: the job used the system daemon" grep -qx sys "$EXPORT/sys.txt"
check "--config: the system daemon is still running" kill -0 "$IOND_PID"
printf '[run]\nionode = tcp://127.0.0.1:%s\nmount = /pfs\n' "$(free_tcp_port)" >"$T_DIR/dead.conf"
rc=0; fr --config "$T_DIR/dead.conf" --hostfile "$T_DIR/one" --ready-timeout 2 -- true 2>"$T_DIR/err" || rc=$?
check "--config: an unreachable daemon is named" \
  sh -c "test $rc -eq 1 && grep -q 'I/O node tcp://127.0.0.1:.*no session could be opened' '$T_DIR/err'"

# ---- ferry-exec's I/O node map -------------------------------------------------
rc=0; FERRY_IONODE_MAP="no-such-host $IONODE_URI" "$FEXEC" --mount /pfs -- true 2>"$T_DIR/err" || rc=$?
check "FERRY_IONODE_MAP without this host: 127, host named" \
  sh -c "test $rc -eq 127 && grep -q \"host $(hostname) is not in FERRY_IONODE_MAP\" '$T_DIR/err'"
FERRY_IONODE_MAP="other tcp://192.0.2.1:1;$(hostname) $IONODE_URI" "$FEXEC" --mount /pfs -- sh -c 'echo mapped > /pfs/map.txt'
check "FERRY_IONODE_MAP picks this host's entry" grep -qx mapped "$EXPORT/map.txt"
printf '# map\nother tcp://192.0.2.1:1\n* %s\n' "$IONODE_URI" >"$T_DIR/map"
FERRY_IONODE_MAP=$T_DIR/map "$FEXEC" --mount /pfs -- sh -c 'echo star > /pfs/star.txt'
check "a map file with a '*' entry" grep -qx star "$EXPORT/star.txt"
check "ferry-iond stops cleanly" stop_iond
finish

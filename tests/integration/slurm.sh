#!/usr/bin/env bash
# The example batch job (examples/ferry-job.sbatch) submitted with sbatch to
# a single-machine Slurm brought up for the test: a private munged, slurmctld
# and slurmd with their own slurm.conf, ports, state and spool under the
# test's temporary directory.  The job must complete, its MPI-IO and HDF5
# results must be verified, and nothing it started may be left running; a
# job that fails must be seen failing; a job cancelled in the middle of its
# I/O must leave no rank and no daemon behind.
# Needs root (slurmd starts jobs as their user); exits 77 (skipped) otherwise.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/munge_lib.sh"
source "$(dirname "$0")/slurm_lib.sh"
: "${FERRY_SRC:?set FERRY_SRC to the source tree}"
JOB=$FERRY_SRC/examples/ferry-job.sbatch
if [ "$(id -u)" -ne 0 ]; then echo "slurm test needs root (slurmd runs jobs as their user): skipped"; exit 77; fi
for b in slurmctld slurmd sbatch sinfo scontrol scancel; do
  command -v "$b" >/dev/null || { echo "$b not installed (slurm-wlm, slurm-client)"; exit 1; }
done
for b in mpiio_check h5_parallel ferry-run ferry-iond ferry-exec; do
  [ -x "$FERRY_BUILD/bin/$b" ] || { echo "$FERRY_BUILD/bin/$b not built"; exit 1; }
done

SL=$T_DIR/slurm
mkdir -p "$SL/state" "$SL/spool" "$SL/log" "$T_DIR/tmp"
CTLD_PID=
SLURMD_PID=

# stop_slurm: cancel what is still queued or running, then stop the daemons.
stop_slurm() {
  if [ -n "$CTLD_PID" ] && kill -0 "$CTLD_PID" 2>/dev/null; then
    scancel --quiet --user=root 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  local p
  for p in $SLURMD_PID $CTLD_PID; do
    kill -TERM "$p" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  SLURMD_PID=
  CTLD_PID=
}
# Chain the EXIT trap (munged's, then lib.sh's): Slurm stops first.
_slurm_prev_exit_trap=
eval "_slurm_prev_exit_trap=$(trap -p EXIT | sed -e 's/^trap -- //' -e 's/ EXIT$//')"
_slurm_exit() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] || [ "$T_FAIL" -ne 0 ]; then
    echo "---- slurmctld / slurmd logs (last 15 lines each) ----"
    tail -n 15 "$SL/log/slurmctld.log" "$SL/log/slurmd.log" 2>/dev/null
  fi
  stop_slurm
  (exit "$rc")
  eval "$_slurm_prev_exit_trap"
  exit "$rc"
}
trap _slurm_exit EXIT

start_munged "$T_DIR/munge"

# One node (this machine, as many CPUs as it has), one partition, every file
# under $SL, ports nobody else uses.
HOST=$(hostname)
export SLURM_CONF=$SL/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=ferrytest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$(free_tcp_port)
SlurmdPort=$(free_tcp_port)
$(slurm_conf_common "$SL" "")
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=ferry Nodes=$HOST Default=YES MaxTime=10 State=UP
EOF

slurmctld -D >>"$SL/log/slurmctld.out" 2>&1 &
CTLD_PID=$!
slurmd -D >>"$SL/log/slurmd.out" 2>&1 &
SLURMD_PID=$!
state=
for _ in $(seq 120); do
  state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  kill -0 "$CTLD_PID" 2>/dev/null || break
  kill -0 "$SLURMD_PID" 2>/dev/null || break
  sleep 0.5
done
check "slurmctld and slurmd are up and the node is idle (state: ${state:-none})" test "$state" = idle
[ "$state" = idle ] || exit 1

# The job sees the submitter's environment: the build's programs on PATH, a
# private TMPDIR, and (as root) mpirun's consent to run as root.
export PATH=$FERRY_BUILD/bin:$PATH TMPDIR=$T_DIR/tmp
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# submit NAME ARGS...: sbatch the example and wait for it; sets JID, JRC, JOUT.
submit() {
  local name=$1; shift
  JOUT=$T_DIR/$name.out
  JID=$(timeout -k 5 200 sbatch --parsable --wait --chdir="$T_DIR" --output="$JOUT" "$JOB" "$@") && JRC=0 || JRC=$?
  JID=${JID%%;*}
  echo "---- job $JID ($name): sbatch exit $JRC ----"
  grep -v '^--------' "$JOUT" 2>/dev/null | head -n 40
}

submit job "$EXPORT"
info=$(scontrol show job "$JID" 2>&1 || true)
check "sbatch --wait returned the job's success" test "$JRC" -eq 0
check "Slurm says the job COMPLETED" grep -q "JobState=COMPLETED" <<<"$info"
check "with exit code 0:0" grep -q "ExitCode=0:0" <<<"$info"
check "the job had 8 tasks" grep -q "^ferry-job: job $JID on $HOST, 8 tasks" "$JOUT"
check "mpiio_check: 8 ranks verified all data" grep -q "^mpiio_check: 8 ranks .*all data verified" "$JOUT"
check "h5_parallel: 8 ranks, collective, all values verified" \
  grep -q "^h5_parallel: 8 ranks .*collective, all values verified" "$JOUT"
check "h5dump through Ferry in the job saw the dataset" grep -q "DATASPACE  SIMPLE { ( 256, 16 )" "$JOUT"
check "the job reached its end" grep -q "^ferry-job: done" "$JOUT"
ranks=("$EXPORT/mpiio-$JID"/rank-*.dat)
check "the exported directory holds the 8 rank files" test "${#ranks[@]}" -eq 8 -a -s "${ranks[0]}"
check "and the complete shared file" test "$(stat -c %s "$EXPORT/mpiio-$JID/shared.dat" 2>/dev/null)" -eq $((3 * 8 * 64 * 1024))
vals=$(h5dump -d /data -y -w 0 "$EXPORT/h5-$JID.h5" 2>/dev/null |
       awk '/DATA \{/ {on=1; next} on && /\}/ {exit} on' | tr -s ', \n' '\n' | sed '/^$/d')
check "the exported HDF5 file holds element i = i for all 4096 values" \
  test "$(awk '$1 == NR - 1 { good++ } END { print good + 0 }' <<<"$vals")" -eq 4096
check "no ferry-iond (or other process) of the job is left running" test -z "$(pgrep -f -- "$EXPORT" || true)"
check "nothing of the job is left in its TMPDIR" test -z "$(ls -A "$T_DIR/tmp")"
# ferry-run's daemons log to ferry-logs-JOBID/ in the job's directory: three
# daemons, one session per rank of the two MPI programs and one for h5dump.
IONLOG=$T_DIR/ferry-logs-$JID/ferry-iond-$HOST.log
opened=$(grep -c 'session opened' "$IONLOG" 2>/dev/null || true)
closed=$(grep -c 'session closed' "$IONLOG" 2>/dev/null || true)
check "ferry-run started a ferry-iond for each of the 3 commands" \
  test "$(grep -c 'ferry-iond ready: listening on tcp://' "$IONLOG" 2>/dev/null)" -eq 3
check "every rank and h5dump had a session (8 + 8 + 1): ${opened:-0}" test "${opened:-0}" -ge 17
check "every session was closed (${closed:-0})" test "${opened:-0}" -eq "${closed:-0}"
check "no daemon logged an error" test "$(grep -c ' ERROR ' "$IONLOG" 2>/dev/null)" -eq 0

# A job that cannot run (its PFS directory is missing) must be seen to fail.
submit bad "$T_DIR/no-such-dir"
info=$(scontrol show job "$JID" 2>&1 || true)
check "a failing job makes sbatch --wait fail" test "$JRC" -ne 0
check "Slurm says the failing job FAILED" grep -q "JobState=FAILED" <<<"$info"
check "with a non-zero exit code" grep -q "ExitCode=[1-9][0-9]*:0" <<<"$info"
check "and its reason in the output" grep -q "is not a directory" "$JOUT"

# scancel of a job in the middle of its I/O: Slurm signals the batch script's
# processes, ferry-run stops its daemons, and nothing of the job remains.
MARK=killed-$$-$RANDOM
printf 'some input\n' >"$EXPORT/in"
loop="while :; do cat /pfs/in >/pfs/$MARK-\$OMPI_COMM_WORLD_RANK; done"
JID=$(sbatch --parsable --chdir="$T_DIR" --output="$T_DIR/kill.out" --ntasks=4 --overcommit \
      --wrap "exec ferry-run --export /pfs=$EXPORT --auth none --log-dir $T_DIR/kill-logs -- \
              mpirun --bind-to none sh -c '$loop'")
JID=${JID%%;*}
written() { local f=("$EXPORT/$MARK"-*); [ -e "${f[0]}" ] && echo "${#f[@]}" || echo 0; }
for _ in $(seq 240); do
  [ "$(written)" -ge 4 ] && break
  [ -z "$(squeue -h -j "$JID" 2>/dev/null)" ] && break
  sleep 0.25
done
check "the job to be killed is running its 4 ranks' I/O through Ferry" test "$(written)" -ge 4
running=$(pgrep -f -- "$MARK|/pfs=$EXPORT" | wc -l)
check "its ranks and daemon are seen running ($running processes)" test "$running" -ge 5
scancel "$JID"
for _ in $(seq 240); do [ -z "$(squeue -h -j "$JID" 2>/dev/null)" ] && break; sleep 0.25; done
check "Slurm says the job was CANCELLED" grep -q "JobState=CANCELLED" <<<"$(scontrol show job "$JID" 2>&1)"
# Leftovers get a few seconds to go (ferry-run's stop timeout is longer, but
# a clean stop takes far less).
left=
for _ in $(seq 40); do
  left=$(pgrep -a -f -- "$MARK|/pfs=$EXPORT" || true)
  [ -z "$left" ] && break
  sleep 0.25
done
[ -z "$left" ] || echo "left running: $left"
check "no rank, ferry-exec or ferry-iond of the cancelled job is left running" test -z "$left"

stop_slurm
check "slurmctld and slurmd stopped" test -z "$CTLD_PID$SLURMD_PID"
finish

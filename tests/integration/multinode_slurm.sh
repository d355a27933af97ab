#!/usr/bin/env bash
# Slurm across the test bed: slurmctld on c1 and a slurmd on each of the 6
# nodes (io1, io2, c1..c4: each its own network and hostname), a private
# munged.  A batch job runs `ferry-run --ionodes io1,io2 --ratio 2 -- srun -n 8
# ...`: ferry-run starts the daemons with srun on the I/O nodes, the tasks get
# the runtime through ferry-exec as their task prolog, run only on the compute
# nodes, each served by its partition's I/O node; the daemons are stopped
# with SIGTERM (their stats in their logs) and nothing is left.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/munge_lib.sh"
source "$(dirname "$0")/slurm_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: the test bed and slurmd need root"; exit 77; }
for b in slurmctld slurmd sbatch sinfo scontrol squeue scancel; do
  command -v "$b" >/dev/null || { echo "$b not installed (slurm-wlm)"; exit 1; }
done
FRUN=$FERRY_BUILD/bin/ferry-run
TB=$FERRY_SRC/tests/testbed/testbed.sh
[ -x "$FRUN" ] || { echo "ferry-run not built"; exit 1; }

TB_NAME=ms$$
export FERRY_TESTBED_DIR=$T_DIR/testbed
PFS=$T_DIR/pfs
SL=$T_DIR/slurm
mkdir -p "$SL/state" "$SL/spool" "$SL/log" "$PFS/srun"
on_c1() { timeout -k 5 120 "$TB" exec --name "$TB_NAME" c1 "$@"; }
start_munged "$T_DIR/munge"
# After munged's stop and lib.sh's cleanup (chained in that trap): ours first.
_ms_prev_trap=$(trap -p EXIT | sed -e 's/^trap -- //' -e 's/ EXIT$//')
ms_exit() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] || [ "$T_FAIL" -ne 0 ]; then
    tail -n 15 "$SL"/log/slurmctld.log "$SL"/log/slurmd-io[12].log 2>/dev/null
  fi
  # slurmctld, the slurmds and anything left die with the namespaces.
  "$TB" down --name "$TB_NAME" >/dev/null 2>&1
  (exit "$rc")
  eval "$_ms_prev_trap"
}
trap ms_exit EXIT

"$TB" up --name "$TB_NAME" --compute 4 --ionodes 2 --pfs "$PFS" >/dev/null
cpus=$(nproc)
export SLURM_CONF=$SL/slurm.conf
cat >"$SLURM_CONF" <<EOF2
ClusterName=ferrymn
SlurmctldHost=c1(10.9.0.101)
SlurmctldPort=6817
SlurmdPort=6818
$(slurm_conf_common "$SL" "-%n")
NodeName=io[1-2] NodeAddr=10.9.0.[11-12] CPUs=$cpus State=UNKNOWN
NodeName=c[1-4] NodeAddr=10.9.0.[101-104] CPUs=$cpus State=UNKNOWN
PartitionName=ferry Nodes=io[1-2],c[1-4] Default=YES MaxTime=10 State=UP
EOF2
"$TB" exec --name "$TB_NAME" c1 slurmctld -D >>"$SL/log/slurmctld.out" 2>&1 &
for n in io1 io2 c1 c2 c3 c4; do
  mkdir -p "$SL/spool/$n"
  "$TB" exec --name "$TB_NAME" "$n" slurmd -D >>"$SL/log/slurmd-$n.out" 2>&1 &
done
idle=0
for _ in $(seq 120); do
  idle=$(on_c1 sinfo -h -o '%T %D' 2>/dev/null | awk '$1 == "idle" {print $2}')
  [ "${idle:-0}" -eq 6 ] && break
  sleep 0.5
done
check "slurmctld and 6 slurmd are up, every node idle (${idle:-0})" test "${idle:-0}" -eq 6
[ "${idle:-0}" -eq 6 ] || exit 1

export PATH=$FERRY_BUILD/bin:$PATH
task='echo $SLURM_PROCID $SLURMD_NODENAME $$ $FERRY_IONODE > /pfs/srun/r$SLURM_PROCID'
jid=$(on_c1 sbatch --parsable --wait -N 6 --exclusive --chdir="$T_DIR" --output="$T_DIR/job.out" \
      --wrap "ferry-run --ionodes io1,io2 --ratio 2 --auth none --log-level info --log-dir $T_DIR/logs \
              --export /pfs=$PFS -- srun -n 8 sh -c '$task'") && rc=0 || rc=$?
grep -v "INFO" "$T_DIR/job.out" 2>/dev/null | tail -n 20 || true
check "the batch job succeeded" test "$rc" -eq 0
check "8 tasks wrote their file through Ferry" test "$(ls "$PFS/srun" | grep -c '^r[0-7]$')" -eq 8
res=$(cat "$PFS"/srun/r* 2>/dev/null)
check "the tasks ran on the compute nodes only, 2 on each" \
  test "$(awk '{print $2}' <<<"$res" | sort | uniq -c | awk '{print $2 ":" $1}' | tr '\n' ' ')" = "c1:2 c2:2 c3:2 c4:2 "
# served_own ION IP HOSTS...: the tasks on HOSTS had ION's address, and ION's
# daemon served exactly those tasks (its sessions' pids).
served_own() {
  local ion=$1 ip=$2; shift 2
  local want got h
  want=$(for h in "$@"; do awk -v h="$h" '$2 == h {print $3}' <<<"$res"; done | sort -n)
  got=$(grep -o 'session opened: pid [0-9]*' "$T_DIR/logs/ferry-iond-$ion.log" 2>/dev/null | awk '{print $4}' | sort -nu)
  [ -n "$want" ] && [ "$want" = "$got" ] || { echo "$ion served [$got], expected [$want]"; return 1; }
  for h in "$@"; do
    awk -v h="$h" '$2 == h {print $4}' <<<"$res" | grep -vq "^tcp://$ip:" && { echo "a task on $h did not use $ion"; return 1; }
  done
  return 0
}
check "io1 served exactly the tasks of c1 and c2" served_own io1 10.9.0.11 c1 c2
check "io2 served exactly the tasks of c3 and c4" served_own io2 10.9.0.12 c3 c4
[ "$(cat "$T_DIR"/logs/ferry-iond-io*.log | grep -c 'exiting with status 0')" -eq 2 ] ||
  tail -n 5 "$T_DIR"/logs/ferry-iond-io*.log
check "both daemons got SIGTERM: stats logged, clean exit" \
  test "$(cat "$T_DIR"/logs/ferry-iond-io*.log | grep -c 'exiting with status 0')" -eq 2
# nothing_left: only Slurm's own daemons run on the nodes (waits a little).
nothing_left() {
  local n p c left
  for _ in $(seq 50); do
    left=
    for n in io1 io2 c1 c2 c3 c4; do
      for p in $(ip netns pids "ferry-$TB_NAME-$n"); do
        c=$(cat /proc/$p/comm 2>/dev/null) || continue
        case $c in slurmd|slurmctld|slurmscriptd) ;; *) left+="$n:$c($p) " ;; esac
      done
    done
    [ -z "$left" ] && return 0
    sleep 0.2
  done
  echo "left: $left"
  return 1
}
check "nothing of the job is left on the nodes" nothing_left

# scancel in the middle of the job: Slurm signals the batch script (ferry-run),
# the daemons' step and the tasks; nothing of the job may be left.
mkdir -p "$PFS/cancel"
task='echo $SLURM_PROCID > /pfs/cancel/r$SLURM_PROCID && exec sleep 300'
jid=$(on_c1 sbatch --parsable -N 6 --exclusive --chdir="$T_DIR" --output="$T_DIR/cancel.out" \
      --wrap "exec ferry-run --ionodes io1,io2 --ratio 2 --auth none --log-dir $T_DIR/cancel-logs \
              --export /pfs=$PFS -- srun -n 8 sh -c '$task'")
jid=${jid%%;*}
for _ in $(seq 300); do
  [ "$(ls "$PFS/cancel" | wc -l)" -eq 8 ] && break
  sleep 0.2
done
check "the job to cancel runs its 8 tasks through Ferry" test "$(ls "$PFS/cancel" | wc -l)" -eq 8
on_c1 scancel "$jid"
for _ in $(seq 200); do [ -z "$(on_c1 squeue -h -j "$jid" 2>/dev/null)" ] && break; sleep 0.2; done
check "Slurm says the job was cancelled" grep -q "JobState=CANCELLED" <<<"$(on_c1 scontrol show job "$jid" 2>&1)"
check "nothing of the cancelled job is left on the nodes" nothing_left
"$TB" down --name "$TB_NAME" >/dev/null
finish

#!/usr/bin/env bash
# The README's main job in miniature: mpirun starts ranks under ferry-exec,
# each rank's POSIX I/O to /pfs is forwarded and verified by a neighbour.
#   mpi_job.sh tcp|shm
source "$(dirname "$0")/lib.sh"
PROV=${1:?usage: mpi_job.sh tcp|shm}
DEMO=$FERRY_BUILD/bin/mpi_io_demo
[ -x "$DEMO" ] || { echo "mpi_io_demo not built (MPI missing?)"; exit 1; }
start_iond "$PROV"

flags=(--oversubscribe --bind-to none -np 3)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
out=$(timeout -k 5 120 mpirun "${flags[@]}" "$FEXEC" --ionode "$IONODE_URI" --mount /pfs -- \
      "$DEMO" /pfs/demo 2 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 0 ]; then echo "$out" | tail -n 3; else echo "$out" | grep -v "^--------" | head -n 40; fi
check "the MPI job succeeded" test "$rc" -eq 0
check "every rank verified its neighbour's data" grep -q "all data verified" <<<"$out"
check "per-rank files are on the I/O node" test "$(ls "$EXPORT/demo" | grep -c '^rank-')" -eq 3
check "the shared file is complete on the I/O node" test "$(stat -c %s "$EXPORT/demo/shared.dat")" -eq $((3 * 2 << 20))
check "each rank had its own session" test "$(grep -c 'session opened' "$IOND_LOG")" -ge 3
check "every session was closed" test "$(grep -c 'session opened' "$IOND_LOG")" -eq "$(grep -c 'session closed' "$IOND_LOG")"
check "ferry-iond stops cleanly on SIGTERM" stop_iond
finish

#!/usr/bin/env bash
# MPI-IO through Ferry: 8 ranks started by the real mpirun, each under
# ferry-exec, run examples/mpiio_check with each of OpenMPI's IO components
# (OMPIO and ROMIO).  Every rank's POSIX calls on /pfs -- opens, pread/pwrite,
# fcntl byte-range locks (ROMIO's data sieving), statfs (file system
# detection), ftruncate, fsync, unlink -- are forwarded to one ferry-iond.
# The program verifies what it reads back; this script also checks the files
# the I/O node holds against the same job run natively.
#   mpiio.sh tcp|shm
source "$(dirname "$0")/lib.sh"
PROV=${1:?usage: mpiio.sh tcp|shm}
CHECK=$FERRY_BUILD/bin/mpiio_check
[ -x "$CHECK" ] || { echo "mpiio_check not built (MPI missing?)"; exit 1; }
NP=8
KIB=64 # per rank and region: the shared file is 3 * 8 * 64 KiB
start_iond "$PROV"

flags=(--oversubscribe --bind-to none -np "$NP")
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
# OMPIO with its defaults: its collective writer (fcoll vulcan) overlaps its
# rounds with glibc POSIX AIO, whose helper threads have small stacks (the
# runtime forwards on a stack of its own).
declare -A comp_flags=(
  [ompio]="--mca io ompio"
  [romio321]="--mca io romio321"
)

for io in ompio romio321; do
  # shellcheck disable=SC2206
  cf=(${comp_flags[$io]})
  out=$(timeout -k 5 120 mpirun "${flags[@]}" "${cf[@]}" "$FEXEC" --ionode "$IONODE_URI" --mount /pfs -- \
        "$CHECK" "/pfs/$io" "$KIB" 2>&1) && rc=0 || rc=$?
  if [ "$rc" -eq 0 ]; then echo "$out" | tail -n 1; else echo "$out" | grep -v "^--------" | head -n 40; fi
  check "$io: the job succeeded" test "$rc" -eq 0
  check "$io: every rank verified the data it read back" grep -q "^mpiio_check: $NP ranks .*all data verified" <<<"$out"

  # The same job natively, for the reference bytes.
  lout=$(timeout -k 5 120 mpirun "${flags[@]}" "${cf[@]}" "$CHECK" "$LOCAL/$io" "$KIB" 2>&1) && lrc=0 || lrc=$?
  [ "$lrc" -eq 0 ] || echo "$lout" | head -n 20
  check "$io: the native run succeeded" test "$lrc" -eq 0
  ranks=("$EXPORT/$io"/rank-*.dat)
  check "$io: rank files are on the I/O node" test "${#ranks[@]}" -eq "$NP" -a -s "${ranks[0]}"
  same=1
  for f in "$LOCAL/$io"/rank-*.dat "$LOCAL/$io/shared.dat"; do
    cmp -s "$f" "$EXPORT/$io/${f##*/}" || { echo "differs from the native run: $EXPORT/$io/${f##*/}"; same=0; }
  done
  check "$io: the I/O node's files are byte-identical to the native run's" test "$same" -eq 1
  check "$io: the shared file has its 3 regions" \
    test "$(stat -c %s "$EXPORT/$io/shared.dat")" -eq $((3 * NP * KIB * 1024))
  check "$io: MPI_File_delete removed the scratch file" test ! -e "$EXPORT/$io/scratch.dat"
done

check "each rank had its own session" test "$(grep -c 'session opened' "$IOND_LOG")" -ge $((2 * NP))
check "every session was closed" \
  test "$(grep -c 'session opened' "$IOND_LOG")" -eq "$(grep -c 'session closed' "$IOND_LOG")"
check "ferry-iond stops cleanly on SIGTERM" stop_iond
finish

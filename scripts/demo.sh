#!/usr/bin/env bash
# The main job: install what is missing, build, start a local I/O-node daemon,
# run a small MPI job whose file I/O is forwarded to it, print a summary.
#   scripts/demo.sh [--provider tcp|shm] [--ranks N] [--mib M] [--keep]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
provider=tcp ranks=4 mib=8 keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --provider) provider=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help)
      sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'
      echo "  --provider  fabric provider for the daemon (default tcp)"
      echo "  --ranks     MPI ranks (default 4)"
      echo "  --mib       MiB each rank writes (default 8)"
      echo "  --keep      keep the work directory (export and logs) afterwards"
      exit 0 ;;
    *) echo "demo: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n== %s\n' "$*"; }
step "1/4 installing missing packages"
"$top/scripts/install-deps.sh"
step "2/4 building (build/)"
"$top/scripts/build.sh" >/dev/null
bin=$top/build/bin

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
export_dir=$work/scratch
mkdir -p "$export_dir"
iond_pid=
cleanup() {
  [ -n "$iond_pid" ] && kill -TERM "$iond_pid" 2>/dev/null && wait "$iond_pid" 2>/dev/null
  [ $keep -eq 1 ] && echo "work directory kept: $work" || rm -rf "$work"
}
trap cleanup EXIT

case $provider in
  tcp) uri="tcp://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')" ;;
  shm) uri="shm://ferry-demo-$$" ;;
  *) echo "demo: --provider must be tcp or shm" >&2; exit 2 ;;
esac

step "3/4 starting the I/O-node daemon: ferry-iond --listen $uri --export /pfs=$export_dir"
FERRY_LOG_LEVEL=info "$bin/ferry-iond" --listen "$uri" --export "/pfs=$export_dir" \
  --ready-file "$work/ready" >"$work/iond.log" 2>&1 &
iond_pid=$!
for _ in $(seq 300); do [ -s "$work/ready" ] && break; sleep 0.1; done
[ -s "$work/ready" ] || { echo "demo: ferry-iond did not become ready:"; cat "$work/iond.log"; exit 1; }
cat "$work/ready"

step "4/4 MPI job: mpirun -np $ranks ferry-exec --mount /pfs -- mpi_io_demo /pfs/demo $mib"
mpirun_flags=(--oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpirun_flags+=(--allow-run-as-root)
t0=$(date +%s.%N)
set +e
mpirun "${mpirun_flags[@]}" -np "$ranks" \
  "$bin/ferry-exec" --ionode "$uri" --mount /pfs -- "$bin/mpi_io_demo" /pfs/demo "$mib" | tee "$work/job.out"
job_rc=${PIPESTATUS[0]}
set -e
t1=$(date +%s.%N)

kill -TERM "$iond_pid"; wait "$iond_pid" || true; iond_pid=

files=$(find "$export_dir" -type f | wc -l)
bytes=$(du -sb "$export_dir" | cut -f1)
opened=$(grep -c 'session opened' "$work/iond.log" || true)
closed=$(grep -c 'session closed' "$work/iond.log" || true)
errors=$(grep -c ' ERROR ' "$work/iond.log" || true)
calls=$(sed -n 's/.*stats (shutdown): calls \([0-9]*\) errors \([0-9]*\).*/\1 forwarded calls, \2 failed/p' "$work/iond.log")
shared_ok=no
[ "$(stat -c %s "$export_dir/demo/shared.dat" 2>/dev/null || echo 0)" -eq $((ranks * mib << 20)) ] && shared_ok=yes

echo
echo "== Ferry main job: summary"
echo "  I/O node        : ferry-iond on $uri, /pfs -> $export_dir"
echo "  compute side    : /pfs exists locally? $( [ -e /pfs ] && echo yes || echo no ) (all /pfs I/O was forwarded)"
echo "  MPI job         : $ranks ranks, $(tail -n 1 "$work/job.out" | sed 's/^mpi_io_demo: //')"
echo "  on the I/O node : $files files, $((bytes >> 20)) MiB in $export_dir/demo; shared.dat complete: $shared_ok"
echo "  daemon          : $opened sessions opened, $closed closed; ${calls:-no stats}; $errors errors logged"
echo "  wall time       : $(python3 -c "print(f'{$t1 - $t0:.2f}')") s (job)"
if [ "$job_rc" -eq 0 ] && [ "$shared_ok" = yes ] && [ "$errors" -eq 0 ]; then
  echo "  result          : PASS"
else
  echo "  result          : FAIL (see $work/iond.log; rerun with --keep)"; keep=1; exit 1
fi

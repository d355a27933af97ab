#!/usr/bin/env bash
# Parallel HDF5 through Ferry: 8 ranks under ferry-exec write one dataset
# collectively (examples/h5_parallel, built with h5pcc), then the unmodified
# h5dump, also under ferry-exec, reads the file back through the I/O node and
# the values it prints are checked one by one.
#   hdf5.sh tcp|shm
source "$(dirname "$0")/lib.sh"
PROV=${1:?usage: hdf5.sh tcp|shm}
H5P=$FERRY_BUILD/bin/h5_parallel
[ -x "$H5P" ] || { echo "h5_parallel not built (h5pcc missing?)"; exit 1; }
command -v h5dump >/dev/null || { echo "h5dump not installed (hdf5-tools)"; exit 1; }
NP=8
ROWS=32 # per rank; 16 int32 per row
N=$((NP * ROWS * 16))
start_iond "$PROV"

flags=(--oversubscribe --bind-to none -np "$NP")
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
out=$(timeout -k 5 120 mpirun "${flags[@]}" "$FEXEC" --ionode "$IONODE_URI" --mount /pfs -- \
      "$H5P" /pfs/file.h5 "$ROWS" 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 0 ]; then echo "$out" | tail -n 1; else echo "$out" | grep -v "^--------" | head -n 40; fi
check "the parallel HDF5 job succeeded" test "$rc" -eq 0
check "its writes and reads were collective and every rank verified its neighbour" \
  grep -q "^h5_parallel: $NP ranks .*collective, all values verified" <<<"$out"
check "the file is on the I/O node" test -s "$EXPORT/file.h5"

# h5dump through Ferry: header, attributes, every value.
hdr=$(fx h5dump -H /pfs/file.h5 2>&1) || true
echo "$hdr" | grep DATASPACE | head -n 1
check "h5dump through Ferry sees /data as $((NP * ROWS)) x 16 int32" \
  grep -q "DATASPACE  SIMPLE { ( $((NP * ROWS)), 16 ) / ( $((NP * ROWS)), 16 ) }" <<<"$hdr"
attr=$(fx h5dump -a /data/ranks /pfs/file.h5 2>&1) || true
check "h5dump through Ferry reads the attribute ranks = $NP" grep -q "(0): $NP\$" <<<"$attr"
fx h5dump -d /data -y -w 0 /pfs/file.h5 >"$T_DIR/dump.txt" 2>&1 && drc=0 || drc=$?
check "h5dump through Ferry reads /data" test "$drc" -eq 0
# The values between "DATA {" and its closing brace must be 0, 1, ..., N-1.
vals=$(awk '/DATA \{/ {on=1; next} on && /\}/ {exit} on' "$T_DIR/dump.txt" | tr -s ', \n' '\n' | sed '/^$/d')
check "h5dump printed $N values" test "$(wc -l <<<"$vals")" -eq "$N"
check "every value is the one its rank wrote (element i = i)" \
  test "$(awk '$1 != NR - 1 { bad++ } END { print bad + 0 }' <<<"$vals")" -eq 0
# What the I/O node holds, dumped natively, is what Ferry showed.
h5dump -d /data -y -w 0 "$EXPORT/file.h5" | sed 1d >"$T_DIR/native.txt"
check "h5dump through Ferry matches h5dump on the I/O node's file" \
  cmp -s <(sed 1d "$T_DIR/dump.txt") "$T_DIR/native.txt"
fx_fails "h5dump through Ferry of a missing file fails" h5dump -H /pfs/missing.h5

check "every session was closed" \
  test "$(grep -c 'session opened' "$IOND_LOG")" -eq "$(grep -c 'session closed' "$IOND_LOG")"
check "ferry-iond stops cleanly on SIGTERM" stop_iond
finish

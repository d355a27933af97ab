#!/usr/bin/env bash
# perf/plot_latency.sh RESULTS.CSV OUT.PNG [SPIN [SPIN_ALT]]: grouped bars,
# log scale, one panel per provider: Ferry (rpc/ alone, or through
# ferry-iond with --worker-spin-us SPIN), Ferry through ferry-iond with
# SPIN_ALT, the same call run natively, and the fabric's own time for the
# same messages.  run_bench.sh calls it; run it again to re-plot a CSV.
set -euo pipefail

CSV=${1:?usage: plot_latency.sh RESULTS.CSV OUT.PNG [SPIN [SPIN_ALT]]}
PNG=${2:?usage: plot_latency.sh RESULTS.CSV OUT.PNG [SPIN [SPIN_ALT]]}
SPIN=${3:-0}
ALT=${4:-$SPIN}
command -v gnuplot >/dev/null || { echo "plot_latency.sh: gnuplot not found" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-plot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Small calls first, then the 1 MiB ones (their bars are 100x taller).
OPS="rpc_null rpc_1k_inout fwd_null_call fwd_statx fwd_read_1k fwd_openat_close
     rpc_bulk_pull_1m rpc_bulk_push_1m fwd_read_1m fwd_write_1m"
PROVS=$(awk -F, 'NR > 1 && !seen[$1]++ { print $1 }' "$CSV")
[ -n "$PROVS" ] || { echo "plot_latency.sh: no rows in $CSV" >&2; exit 1; }

for p in $PROVS; do
  # label ferry ferry_alt native fabric ; NaN where a figure does not apply
  for op in $OPS; do
    awk -F, -v p="$p" -v op="$op" -v s="$SPIN" -v a="$ALT" '
      function v(x) { return x == "" ? "NaN" : x }
      $1 == p && $2 == op {
        if ($13 == "" || $13 == s) { f = v($4); n = v($6); fab = v($7); found = 1 }
        if ($13 != "" && $13 == a && a != s) alt = v($4)
      }
      END {
        if (!found) exit
        label = op; sub(/^fwd_/, "iond ", label); sub(/^rpc_/, "rpc ", label)
        gsub(/_/, " ", label)
        printf "\"%s\" %s %s %s %s\n", label, f, (alt == "" ? "NaN" : alt), n, fab
      }' "$CSV"
  done >"$TMP/$p.dat"
done

NPROV=$(echo "$PROVS" | wc -w)
{
  echo "set terminal pngcairo size 1400,$((420 * NPROV)) font 'sans,10'"
  echo "set output '$PNG'"
  echo "set datafile missing 'NaN'"
  echo "set style data histograms"
  echo "set style histogram clustered gap 1"
  echo "set style fill solid 0.85 border -1"
  echo "set logscale y"
  echo "set format y '%g'"
  echo "set ylabel 'microseconds (median; fabric: fi\\_pingpong mean)'"
  echo "set grid ytics"
  echo "set key outside right top"
  echo "set xtics rotate by -25 scale 0"
  echo "set multiplot layout $NPROV,1"
  for p in $PROVS; do
    echo "set title 'Ferry on $p: forwarded calls and rpc/ against native calls and the fabric ($(basename "$(dirname "$CSV")"))' noenhanced"
    if [ "$ALT" != "$SPIN" ]; then
      echo "plot '$TMP/$p.dat' using 2:xtic(1) title 'Ferry (iond worker spin $SPIN us)' lc rgb '#1f77b4', \
        '' using 3 title 'Ferry (iond worker spin $ALT us)' lc rgb '#aec7e8', \
        '' using 4 title 'native' lc rgb '#2ca02c', \
        '' using 5 title 'fabric (fi\\_pingpong)' lc rgb '#ff7f0e'"
    else
      echo "plot '$TMP/$p.dat' using 2:xtic(1) title 'Ferry' lc rgb '#1f77b4', \
        '' using 4 title 'native' lc rgb '#2ca02c', \
        '' using 5 title 'fabric (fi\\_pingpong)' lc rgb '#ff7f0e'"
    fi
  done
  echo "unset multiplot"
} >"$TMP/plot.gp"
gnuplot "$TMP/plot.gp"

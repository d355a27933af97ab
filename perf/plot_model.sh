#!/usr/bin/env bash
# perf/plot_model.sh MODEL.CSV OUT.PNG: the delegation model's validation,
# one panel per provider: for each forwarding policy, the measured run time
# (median, with the range of the runs), the time ferry-model predicted from
# the run that forwards nothing, and the one predicted from the native run
# (with the interception cost); the errors are printed above the bars.
# run_model.sh calls it; run it again to re-plot a CSV.
set -euo pipefail

CSV=${1:?usage: plot_model.sh MODEL.CSV OUT.PNG}
PNG=${2:?usage: plot_model.sh MODEL.CSV OUT.PNG}
command -v gnuplot >/dev/null || { echo "plot_model.sh: gnuplot not found" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-plot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

PROVS=$(awk -F, 'NR > 1 && !seen[$1]++ { print $1 }' "$CSV")
[ -n "$PROVS" ] || { echo "plot_model.sh: no rows in $CSV" >&2; exit 1; }

for p in $PROVS; do
  # x label measured min max predicted error predicted_native error_native
  awk -F, -v p="$p" 'NR > 1 && $1 == p {
    printf "%d \"%s\" %s %s %s %s %s %s %s\n", n++, $2, $6, $7, $8, $15, $16, $17, $18 }' \
    "$CSV" >"$TMP/$p.dat"
done

NPROV=$(echo "$PROVS" | wc -w)
{
  echo "set terminal pngcairo size 900,$((440 * NPROV)) font 'sans,10'"
  echo "set output '$PNG'"
  echo "set style fill solid 0.85 border -1"
  echo "set boxwidth 0.25"
  echo "set ylabel 'run time (s)'"
  echo "set yrange [0:*]"
  echo "set grid ytics"
  echo "set key below"
  echo "set xtics scale 0"
  echo "set offsets 0.5, 0.5, 0, 0"
  echo "set multiplot layout $NPROV,1"
  for p in $PROVS; do
    echo "set title 'ferry-model against measured runs of ferry-synthetic on $p ($(basename "$(dirname "$CSV")"))' noenhanced"
    echo "plot '$TMP/$p.dat' using (\$1-0.27):3:xtic(2) with boxes title 'measured (median)' lc rgb '#2ca02c', \
      '' using (\$1-0.27):3:4:5 with yerrorbars notitle lc rgb 'black' pt -1, \
      '' using (\$1):6 with boxes title 'predicted from the no-forwarding run' lc rgb '#1f77b4', \
      '' using (\$1):6:(sprintf('%+.1f%%', \$7)) with labels offset 0,0.8 font ',8' notitle, \
      '' using (\$1+0.27):8 with boxes title 'predicted from the native run (+ interception)' lc rgb '#aec7e8', \
      '' using (\$1+0.27):8:(sprintf('%+.1f%%', \$9)) with labels offset 0,0.8 font ',8' notitle"
  done
  echo "unset multiplot"
} >"$TMP/plot.gp"
gnuplot "$TMP/plot.gp"

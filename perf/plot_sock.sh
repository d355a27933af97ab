#!/usr/bin/env bash
# perf/plot_sock.sh RESULTS.CSV SOCKETS.PNG: the plot of a run_sock_bench.sh
# CSV (run_sock_bench.sh calls it; run it again to re-plot an old CSV).
#   left:  request/response round trip (median µs) against the reply size,
#          direct and forwarded per provider, and the fabric's time for the
#          same two messages (dashed), log-log;
#   right: streaming MiB/s per transfer size, down (to the client) and up,
#          direct and forwarded; connections per second in the title.
set -euo pipefail

USAGE="usage: plot_sock.sh RESULTS.CSV SOCKETS.PNG"
case ${1:-} in -h|--help) echo "$USAGE"; exit 0 ;; esac
CSV=${1:?$USAGE}
PNG=${2:?$USAGE}
command -v gnuplot >/dev/null || { echo "plot_sock.sh: gnuplot not found" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-plot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

PATHS=$(awk -F, '!/^#/ && $1 != "path" && !seen[$1]++ { print $1 }' "$CSV")
[ -n "$PATHS" ] || { echo "plot_sock.sh: no rows in $CSV" >&2; exit 1; }
for p in $PATHS; do
  # size median fabric_us
  awk -F, -v p="$p" '!/^#/ && $1 == p && $2 == "rr" { print $3, $5, ($12 == "" ? "NaN" : $12) }' "$CSV" >"$TMP/rr-$p.dat"
done
# "dir size" then MiB/s per path
SIZES=$(awk -F, '!/^#/ && ($2 == "down" || $2 == "up") && !seen[$3]++ { print $3 }' "$CSV" | sort -n)
for d in down up; do
  for s in $SIZES; do
    line="\"$d $((s >> 20)) MiB\""
    for p in $PATHS; do
      line="$line $(awk -F, -v p="$p" -v d="$d" -v s="$s" '!/^#/ && $1 == p && $2 == d && $3 == s { v = $7 }
        END { print (v == "" ? "NaN" : v) }' "$CSV")"
    done
    echo "$line"
  done
done >"$TMP/stream.dat"
CONN=$(awk -F, '!/^#/ && $2 == "conn" { printf "%s%s %.0f/s", (n++ ? ", " : ""), $1, $8 }' "$CSV")
MACHINE=$(sed -n 's/^# cpu: *//p' "$CSV" | head -n 1)

{
  echo "set terminal pngcairo size 1400,520 font 'sans,10'"
  echo "set output '$PNG'"
  echo "set datafile missing 'NaN'"
  echo "set multiplot layout 1,2 title 'Sockets through ferry-iond against a direct connection ($MACHINE)'"
  echo "set logscale xy"
  echo "set grid"
  echo "set key top left"
  echo "set xlabel 'reply size (bytes; request 16 B)'"
  echo "set ylabel 'round trip, median (µs)'"
  echo "set title 'request/response on one connection'"
  plot="plot "
  i=1
  for p in $PATHS; do
    plot="$plot'$TMP/rr-$p.dat' using 1:2 with linespoints lw 2 lc $i title '$p', "
    if [ "$p" != direct ]; then
      plot="$plot'$TMP/rr-$p.dat' using 1:3 with lines dt 2 lc $i title 'fabric ($p)', "
    fi
    i=$((i + 1))
  done
  echo "${plot%, }"
  echo "unset logscale x"
  echo "set logscale y"
  echo "set style data histogram"
  echo "set style histogram clustered gap 1"
  echo "set style fill solid 0.8 border -1"
  echo "set xtics rotate by -30"
  echo "set xlabel ''"
  echo "set ylabel 'MiB/s (median transfer)'"
  echo "set key top right"
  echo "set title 'streaming; connections: $CONN'"
  plot="plot "
  col=2
  for p in $PATHS; do
    plot="$plot'$TMP/stream.dat' using $col:xtic(1) title '$p', "
    col=$((col + 1))
  done
  echo "${plot%, }"
  echo "unset multiplot"
} >"$TMP/plot.gp"
gnuplot "$TMP/plot.gp"

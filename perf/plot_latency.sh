#!/usr/bin/env bash
# perf/plot_latency.sh RESULTS.CSV LATENCY.PNG [CLIENTS.PNG [SPIN]]: the plots
# of a run_bench.sh CSV (run_bench.sh calls it; run it again to re-plot).
#   LATENCY.PNG: grouped bars, log scale, one panel per provider, one client:
#     Ferry (rpc/ alone, or through ferry-iond with --worker-spin-us SPIN),
#     the same call run natively, and the fabric's own time for the same
#     messages.
#   CLIENTS.PNG: calls per second of all clients together, forwarded
#     (filled) and native (hollow), for each client count, one panel per
#     provider.
set -euo pipefail

USAGE="usage: plot_latency.sh RESULTS.CSV LATENCY.PNG [CLIENTS.PNG [SPIN]]"
case ${1:-} in -h|--help) echo "$USAGE"; exit 0 ;; esac
CSV=${1:?$USAGE}
PNG=${2:?$USAGE}
CPNG=${3:-}
SPIN=${4:-0}
command -v gnuplot >/dev/null || { echo "plot_latency.sh: gnuplot not found" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-plot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Small calls first, then the large ones (their bars are 100x taller).
OPS="rpc_null rpc_1k_inout null_call stat open_close pread_1k read_64k write_64k
     getdents_1000 rpc_bulk_pull_1m rpc_bulk_push_1m read_1m write_1m"
FWD_OPS="null_call stat open_close pread_1k read_64k write_64k getdents_1000 read_1m write_1m"
PROVS=$(awk -F, '!/^#/ && $1 != "provider" && !seen[$1]++ { print $1 }' "$CSV")
[ -n "$PROVS" ] || { echo "plot_latency.sh: no rows in $CSV" >&2; exit 1; }
CLIENTS=$(awk -F, '!/^#/ && $1 != "provider" && $2 == "null_call" && !seen[$4]++ { print $4 }' "$CSV" | sort -n)
TITLE_RUN=$(basename "$(dirname "$CSV")")

for p in $PROVS; do
  # label ferry native fabric ; NaN where a figure does not apply
  for op in $OPS; do
    awk -F, -v p="$p" -v op="$op" -v s="$SPIN" '
      function v(x) { return x == "" ? "NaN" : x }
      /^#/ { next }
      $1 == p && $2 == op && $4 == 1 && ($19 == "" || $19 == s) {
        label = op; sub(/^rpc_/, "rpc/ ", label); gsub(/_/, " ", label)
        printf "\"%s\" %s %s %s\n", label, v($5), v($7), v($9); exit
      }' "$CSV"
  done >"$TMP/$p.dat"
  # label, then forwarded and native calls/s for each client count
  for op in $FWD_OPS; do
    line="\"${op//_/ }\""
    for c in $CLIENTS; do
      line="$line $(awk -F, -v p="$p" -v op="$op" -v s="$SPIN" -v c="$c" '
        /^#/ { next }
        $1 == p && $2 == op && $4 == c && $19 == s { f = $12; n = $13 }
        END { printf "%s %s", (f == "" ? "NaN" : f), (n == "" ? "NaN" : n) }' "$CSV")"
    done
    echo "$line"
  done >"$TMP/$p.clients.dat"
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
  echo "set ylabel 'microseconds (median; fabric: fi\\_pingpong)'"
  echo "set grid ytics"
  echo "set key outside right top"
  echo "set xtics rotate by -25 scale 0"
  echo "set multiplot layout $NPROV,1"
  for p in $PROVS; do
    echo "set title 'Ferry on $p, one client: forwarded calls and rpc/ against native calls and the fabric ($TITLE_RUN)' noenhanced"
    echo "plot '$TMP/$p.dat' using 2:xtic(1) title 'Ferry' lc rgb '#1f77b4', \
      '' using 3 title 'native' lc rgb '#2ca02c', \
      '' using 4 title 'fabric (fi\\_pingpong)' lc rgb '#ff7f0e'"
  done
  echo "unset multiplot"
} >"$TMP/plot.gp"
gnuplot "$TMP/plot.gp"

[ -n "$CPNG" ] || exit 0
{
  echo "set terminal pngcairo size 1400,$((420 * NPROV)) font 'sans,10'"
  echo "set output '$CPNG'"
  echo "set datafile missing 'NaN'"
  echo "set style data histograms"
  echo "set style histogram clustered gap 1"
  echo "set logscale y"
  echo "set format y '%g'"
  echo "set ylabel 'calls per second, all clients'"
  echo "set grid ytics"
  echo "set key outside right top"
  echo "set xtics rotate by -25 scale 0"
  echo "set multiplot layout $NPROV,1"
  colours=('#1f77b4' '#ff7f0e' '#2ca02c' '#d62728' '#9467bd' '#8c564b')
  for p in $PROVS; do
    echo "set title 'Ferry on $p: forwarded (filled) and native (hollow) calls per second by client processes ($TITLE_RUN)' noenhanced"
    plot="plot"
    col=2 i=0
    for c in $CLIENTS; do
      colour=${colours[$((i % ${#colours[@]}))]}
      [ "$plot" = plot ] && xt=":xtic(1)" || xt=""
      plot="$plot '$TMP/$p.clients.dat' using $col$xt title '$c forwarded' fs solid 0.85 border -1 lc rgb '$colour',"
      plot="$plot '' using $((col + 1)) title '$c native' fs empty border lc rgb '$colour',"
      col=$((col + 2)) i=$((i + 1))
    done
    echo "${plot%,}"
  done
  echo "unset multiplot"
} >"$TMP/clients.gp"
gnuplot "$TMP/clients.gp"

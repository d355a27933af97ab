#!/usr/bin/env bash
# perf/plot_intercept.sh INTERCEPT.CSV OUT.PNG: the plot of a
# run_intercept_bench.sh intercept.csv (run_intercept_bench.sh calls it; run
# it again to re-plot an old CSV): per call, one bar per mode -- sud
# (FERRY_FASTPATH=0), fast (rewritten sites) and interposed -- of
# added_cpu_ns, the thread's CPU time per call (median of the rounds) minus
# native's, on a log scale.  A bar that is zero or negative (the runtime
# added less than the noise) cannot be drawn on it: its value is printed at
# the bottom instead.  The CPU is read from machine.txt next to the CSV when
# there is one.
set -euo pipefail

USAGE="usage: plot_intercept.sh INTERCEPT.CSV OUT.PNG"
case ${1:-} in -h|--help) echo "$USAGE"; exit 0 ;; esac
CSV=${1:?$USAGE}
PNG=${2:?$USAGE}
command -v gnuplot >/dev/null || { echo "plot_intercept.sh: gnuplot not found" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-plot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

MODES="sud fast interposed"
# x "call" then added_cpu_ns of each mode (NaN where the mode has no row),
# the calls in the order the CSV has them.  Columns found by name.
awk -F, -v modes="$MODES" '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
            if (!("added_cpu_ns" in col)) { print "no added_cpu_ns column" > "/dev/stderr"; exit 1 }
            next }
  /^#/ { next }
  { c = $col["call"]; if (!(c in seen)) { seen[c] = 1; calls[++n] = c }
    v[$col["mode"], c] = $col["added_cpu_ns"] }
  END { nm = split(modes, m, " ")
        for (k = 1; k <= n; k++) {
          line = sprintf("%d \"%s\"", k - 1, calls[k])
          for (j = 1; j <= nm; j++) line = line " " (((m[j], calls[k]) in v) ? v[m[j], calls[k]] : "NaN")
          print line } }' "$CSV" >"$TMP/added.dat"
[ -s "$TMP/added.dat" ] || { echo "plot_intercept.sh: no rows in $CSV" >&2; exit 1; }
awk '$3 != "NaN" || $4 != "NaN" || $5 != "NaN" { ok = 1 } END { exit !ok }' "$TMP/added.dat" ||
  { echo "plot_intercept.sh: no sud, fast or interposed rows in $CSV" >&2; exit 1; }

MACHINE=
M=$(dirname "$CSV")/machine.txt
[ -f "$M" ] && MACHINE=$(sed -n 's/^cpu: *//p' "$M" | head -n 1)
ROUNDS=$(awk -F, 'NR == 2 { print $4 }' "$CSV")
# Room above the highest bar (two decades) for the key, inside at the top.
YMAX=$(awk '{ for (i = 3; i <= 5; i++) if ($i != "NaN" && $i + 0 > m) m = $i + 0 }
  END { printf "%.0f", (m > 10 ? m : 10) * 100 }' "$TMP/added.dat")
NCALLS=$(wc -l <"$TMP/added.dat")
XTICS=$(awk '{ gsub(/"/, "", $2); printf "%s\"%s\" %d", (NR > 1 ? ", " : ""), $2, $1 }' "$TMP/added.dat")

{
  echo "set terminal pngcairo size 1000,560 font 'sans,10' noenhanced"
  echo "set output '$PNG'"
  echo "set datafile missing 'NaN'"
  echo "set title \"CPU time added per call over native (ferry-intercept-bench, median of $ROUNDS rounds)\\n${MACHINE//\"/}\""
  echo "set logscale y"
  echo "set yrange [1:$YMAX]"
  echo "set xrange [-0.6:$NCALLS - 0.4]"
  echo "set ylabel 'added CPU time per call (ns; mode minus native, log scale)'"
  echo "set xlabel 'call'"
  echo "set grid ytics"
  echo "set key top left opaque"
  echo "set style fill solid 0.85 border -1"
  echo "set boxwidth 0.25"
  echo "set xtics scale 0 ($XTICS)"
  echo "set format y '%.0f'"
  # pos(v): a label above the bar, or at the bottom when v <= 1
  echo "pos(v) = (v > 1 ? v : 1)"
  echo "pos_bar(v) = (v > 1 ? v : NaN)"
  echo "plot '$TMP/added.dat' using (\$1-0.27):(pos_bar(\$3)) with boxes lc rgb '#d62728' title 'sud (FERRY_FASTPATH=0: every call a SIGSYS trap)', \\"
  echo "  '' using (\$1):(pos_bar(\$4)) with boxes lc rgb '#1f77b4' title 'fast (glibc functions: rewritten sites)', \\"
  echo "  '' using (\$1+0.27):(pos_bar(\$5)) with boxes lc rgb '#2ca02c' title 'interposed (the symbols the runtime interposes)', \\"
  echo "  '' using (\$1-0.27):(pos(\$3)):(sprintf('%.0f', \$3)) with labels offset 0,0.7 font ',8' notitle, \\"
  echo "  '' using (\$1):(pos(\$4)):(sprintf('%.0f', \$4)) with labels offset 0,0.7 font ',8' notitle, \\"
  echo "  '' using (\$1+0.27):(pos(\$5)):(sprintf('%.0f', \$5)) with labels offset 0,0.7 font ',8' notitle"
} >"$TMP/plot.gp"
gnuplot "$TMP/plot.gp"

#!/usr/bin/env bash
# perf/run_model.sh: validate the delegation speedup model (ferry-model)
# against measured runs.  One command: it starts a real ferry-iond, runs
# ferry-synthetic natively and under ferry-exec with four forwarding
# policies, records Ferry profiles, predicts each policy's run time with
# ferry-model from the run that forwards nothing, and compares.  Leaves
# model.csv, model.png, surfaces/ and the raw outputs in the output directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SCRIPT=run_model.sh
# shellcheck source=perf/bench_lib.sh
. "$HERE/bench_lib.sh"

usage() {
  cat <<EOF
usage: perf/run_model.sh [--providers shm,tcp] [--out DIR] [--quick] [--repeat N]
                         [--fc-from CSV] [--build DIR] [-- SYNTHETIC-OPTIONS...]

For each provider, in one run against one real ferry-iond:
  1. calibration: ferry-synthetic --calibrate (timed lseek calls) natively,
     under ferry-exec on a local file (the interception cost, t) and on a
     file under /pfs (a forwarded call that does nothing: f_c is half the
     difference with the native lseek; means, as the model adds f_c to
     totals), unless --fc-from gives f_c;
  2. ferry-synthetic natively, then under ferry-exec with FERRY_PROFILE, with
     its data file and its metadata file each local or under /pfs.  Ferry
     forwards by path, so the policy is where the files are:
       none  data local, meta local: nothing forwarded
       data  data /pfs,  meta local: write, pread64, lseek (and a close)
       meta  data local, meta /pfs:  newfstatat, openat, close
       all   data /pfs,  meta /pfs:  all of them (getppid stays local)
  3. ferry-model predicts each policy's run time from the profile and run
     time of 'none' (the paper's model: gamma 1, f_c, b(s) = the share of
     the calls of s that the policy's run forwarded), and, with the
     interception cost t as an extra per-call term, from the native run.
     Steps 1 and 2 are interleaved, --repeat times; each repetition is
     predicted from its own calibration and 'none' run; the error is
     (predicted - measured) / measured, its median over the repetitions
     (and its range) reported.

Options:
  --providers LIST  shm, tcp or both (default shm,tcp)
  --out DIR         where results go (default perf/results/model-DATE-TIME)
  --quick           small sizes, one run each (a smoke run, seconds)
  --repeat N        runs per configuration (default 5; --quick: 1)
  --fc-from CSV     take f_c from a ferry-bench CSV instead of calibrating
  --build DIR       build tree with bin/ferry-iond, ferry-exec, ferry-model
                    and ferry-synthetic (default \$FERRY_BUILD, else build)
  -h, --help        this text
Options after -- go to ferry-synthetic (e.g. -- --writes 5000 --compute 40).

Writes DIR/model.csv (one row per provider and policy), DIR/model.png,
DIR/surfaces/ (ferry-model --surface of the 'none' profile), DIR/machine.txt
and DIR/raw/ (every run's output and profile).
EOF
}

PROVIDERS=shm,tcp
OUT=
QUICK=0
REPEAT=
FC_FROM=
BUILD=${FERRY_BUILD:-}
SYN_EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --providers) PROVIDERS=${2:?--providers needs a list}; shift 2 ;;
    --providers=*) PROVIDERS=${1#*=}; shift ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --quick) QUICK=1; shift ;;
    --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
    --repeat=*) REPEAT=${1#*=}; shift ;;
    --fc-from) FC_FROM=${2:?--fc-from needs a file}; shift 2 ;;
    --fc-from=*) FC_FROM=${1#*=}; shift ;;
    --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; SYN_EXTRA=("$@"); break ;;
    *) echo "run_model.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

[ -n "$BUILD" ] || BUILD=$(bench_find_build ferry-model) || die "no build tree with bin/ferry-model; build first or pass --build"
IOND=$BUILD/bin/ferry-iond
FEXEC=$BUILD/bin/ferry-exec
MODEL=$BUILD/bin/ferry-model
SYN=$BUILD/bin/ferry-synthetic
for b in "$IOND" "$FEXEC" "$MODEL" "$SYN"; do [ -x "$b" ] || die "$b is missing (build it first)"; done
[ -z "$FC_FROM" ] || [ -r "$FC_FROM" ] || die "cannot read $FC_FROM"
[ -z "$REPEAT" ] || [[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "bad --repeat '$REPEAT'"
IFS=, read -r -a PROV_LIST <<<"$PROVIDERS"
for p in "${PROV_LIST[@]}"; do
  case $p in shm|tcp) ;; *) die "unknown provider '$p' (shm, tcp)" ;; esac
done

if [ "$QUICK" = 1 ]; then
  SYN_ARGS=(--phases 3 --compute 4 --writes 300 --reads 20 --stats 40 --opens 10 --getppids 10)
  CAL_N=500
  REPEAT=${REPEAT:-1}
else
  SYN_ARGS=(--phases 10 --compute 40 --writes 2000 --reads 100 --stats 200 --opens 50 --getppids 50)
  CAL_N=20000
  REPEAT=${REPEAT:-5}
fi
SYN_ARGS+=("${SYN_EXTRA[@]}")

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$OUT" ] || OUT=$REPO/perf/results/model-$STAMP
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
CSV=$OUT/model.csv
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-model.XXXXXX")
IOND_PID=

cleanup() {
  local rc=$?
  iond_kill
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the machine ----
bench_machine "$OUT/machine.txt" \
  command "perf/run_model.sh --providers $PROVIDERS --repeat $REPEAT$([ "$QUICK" = 1 ] && echo ' --quick')${FC_FROM:+ --fc-from $FC_FROM}${SYN_EXTRA[*]:+ -- ${SYN_EXTRA[*]}}" \
  binaries "$BUILD" \
  synthetic "${SYN_ARGS[*]}"
echo

# field LINE KEY: the value of KEY=... in a ferry-synthetic report line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_syn LOG [ferry-exec...]: one ferry-synthetic run; prints its wall_s.
run_syn() {
  local log=$1; shift
  if ! timeout -k 5 300 "$@" >"$log" 2>&1; then
    cat "$log" >&2
    die "ferry-synthetic failed: $*"
  fi
  local line
  line=$(grep '^ferry-synthetic:' "$log" | tail -n 1)
  [ -n "$line" ] || die "no report line in $log"
  field "$line" wall_s
}

echo "provider,policy,data_dir,meta_dir,runs,measured_s,measured_min_s,measured_max_s,native_s,baseline_s,calls,forwarded_calls,fc_us,trap_us,predicted_s,error_pct,predicted_from_native_s,error_from_native_pct,profile,error_min_pct,error_max_pct" >"$CSV"

POLICIES="none data meta all"
for PROV in "${PROV_LIST[@]}"; do
  case $PROV in
    shm) URI="shm://ferry-model-$$" ;;
    tcp) URI="tcp://127.0.0.1:0" ;;
  esac
  echo "== $PROV =="
  EXP=$WORK/export-$PROV
  LOCAL=$WORK/local-$PROV
  mkdir -p "$EXP" "$LOCAL"
  iond_start "$WORK" "$OUT/raw/ferry-iond-$PROV.log" "$URI" --export "/pfs=$EXP" --log-level warn
  FX=("$FEXEC" --ionode "$IOND_URI" --mount /pfs --)

  # 1. and 2., interleaved so that a change of the machine's load during the
  # run hits every configuration alike: per repetition, the calibration
  # (timed lseeks: native, intercepted, forwarded), the native run, then each
  # policy under Ferry.
  # cal LOG CMD...: "median mean" of the timed lseeks.  The model adds f_c to
  # totals, so the mean is what it needs (on a busy machine the two differ).
  cal() { run_syn "$1" "${@:2}" >/dev/null; sed -n 's/.*lseek_median_us=\([^ ]*\) lseek_mean_us=\([^ ]*\).*/\1 \2/p' "$1"; }
  pol_dirs() {
    case $1 in
      none) D=$LOCAL M=$LOCAL ;;
      data) D=/pfs M=$LOCAL ;;
      meta) D=$LOCAL M=/pfs ;;
      all) D=/pfs M=/pfs ;;
    esac
  }
  declare -A RUNS=() W=() PR=()
  nat=() cal_rows=() FC_R=() T_R=()
  for r in $(seq "$REPEAT"); do
    read -r NM NA < <(cal "$OUT/raw/calibrate-native-$PROV-$r.txt" "$SYN" --calibrate "$CAL_N" "$LOCAL")
    read -r LM LA < <(cal "$OUT/raw/calibrate-local-$PROV-$r.txt" "${FX[@]}" "$SYN" --calibrate "$CAL_N" "$LOCAL")
    read -r FM FA < <(cal "$OUT/raw/calibrate-forwarded-$PROV-$r.txt" "${FX[@]}" "$SYN" --calibrate "$CAL_N" /pfs)
    [ -n "$NA" ] && [ -n "$LA" ] && [ -n "$FA" ] || die "calibration failed, see $OUT/raw/calibrate-*-$PROV-$r.txt"
    cal_rows+=("$NM $NA $LM $LA $FM $FA")
    FC_R[$r]=$(awk -v f="$FA" -v n="$NA" 'BEGIN { v = (f - n) / 2; printf "%.3f", (v > 0 ? v : 0) }')
    T_R[$r]=$(awk -v l="$LA" -v n="$NA" 'BEGIN { v = l - n; printf "%.3f", (v > 0 ? v : 0) }')
    nat[$r]=$(run_syn "$OUT/raw/native-$PROV-$r.txt" "$SYN" "${SYN_ARGS[@]}" "$LOCAL")
    for pol in $POLICIES; do
      pol_dirs "$pol"
      prof=$OUT/raw/profile-$PROV-$pol-$r.csv
      w=$(FERRY_PROFILE=$prof run_syn "$OUT/raw/$pol-$PROV-$r.txt" "${FX[@]}" "$SYN" "${SYN_ARGS[@]}" --meta-dir "$M" "$D")
      [ -s "$prof" ] || die "no profile written to $prof"
      RUNS[$pol]+="$w $prof"$'\n'
      W[$pol,$r]=$w
      PR[$pol,$r]=$prof
    done
    echo "run $r of $REPEAT done (f_c $([ -n "$FC_FROM" ] && echo "from $FC_FROM" || echo "${FC_R[$r]} us"), t ${T_R[$r]} us)"
  done
  # the calibration: means over the repetitions (for the summary and the surfaces)
  read -r NAT_MED NAT_US LOC_MED LOC_US FWD_MED FWD_US < <(printf '%s\n' "${cal_rows[@]}" |
    awk '{ for (i = 1; i <= 6; i++) s[i] += $i } END { for (i = 1; i <= 6; i++) printf "%.3f ", s[i] / NR; print "" }')
  TRAP_US=$(awk -v l="$LOC_US" -v n="$NAT_US" 'BEGIN { v = l - n; printf "%.3f", (v > 0 ? v : 0) }')
  if [ -n "$FC_FROM" ]; then
    FC_ARGS=(--fc-from "$FC_FROM" --fc-provider "$PROV")
    FC_US="(ferry-bench CSV)"
    FC_NOTE="from $FC_FROM"
  else
    FC_US=$(awk -v f="$FWD_US" -v n="$NAT_US" 'BEGIN { v = (f - n) / 2; printf "%.3f", (v > 0 ? v : 0) }')
    FC_ARGS=(--fc "$FC_US")
    FC_NOTE="(forwarded lseek $FWD_US us - native $NAT_US us, means) / 2"
  fi
  echo "lseek mean (median), over the repetitions: native $NAT_US ($NAT_MED) us, intercepted $LOC_US ($LOC_MED) us, forwarded $FWD_US ($FWD_MED) us"
  echo "f_c = $FC_US us one way $FC_NOTE; interception cost t = $TRAP_US us per call"
  NATIVE_S=$(printf '%s\n' "${nat[@]}" | median)
  echo "native: median $NATIVE_S s of ${nat[*]}"
  declare -A MEAS MIN MAX PROF
  for pol in $POLICIES; do
    pol_dirs "$pol"
    runs=$(printf '%s' "${RUNS[$pol]}")
    # the median run (its profile goes to the surfaces)
    med=$(sort -g <<<"$runs" | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
    MEAS[$pol]=$(awk '{ print $1 }' <<<"$runs" | median)
    MIN[$pol]=$(awk '{ print $1 }' <<<"$runs" | sort -g | head -n 1)
    MAX[$pol]=$(awk '{ print $1 }' <<<"$runs" | sort -g | tail -n 1)
    PROF[$pol]=${med#* }
    echo "$pol (data $D, meta $M): median ${MEAS[$pol]} s [${MIN[$pol]}, ${MAX[$pol]}]"
  done
  iond_stop

  # 3. the predictions, one per repetition, each from that repetition's own
  # calibration and 'none' run (they ran minutes apart at most): the error of
  # each, and their median.
  for pol in $POLICIES; do
    rows=()
    for r in $(seq "$REPEAT"); do
      P=$OUT/raw/predict-$PROV-$pol-$r
      if [ -n "$FC_FROM" ]; then fca=("${FC_ARGS[@]}"); else fca=(--fc "${FC_R[$r]}"); fi
      "$MODEL" "${fca[@]}" --gamma 1 --wall "${W[none,$r]}" --policy ferry,all,least,most,random \
        --policy-from "${PR[$pol,$r]}" --csv "$P.csv" "${PR[none,$r]}" >"$P.txt" 2>&1 || { cat "$P.txt"; die "ferry-model failed"; }
      "$MODEL" "${fca[@]}" --gamma 1 --wall "${nat[$r]}" --trap-us "${T_R[$r]}" --policy ferry \
        --policy-from "${PR[$pol,$r]}" --csv "$P-native.csv" "${PR[none,$r]}" >"$P-native.txt" 2>&1 || { cat "$P-native.txt"; die "ferry-model failed"; }
      # predicted predicted_native measured forwarded_calls calls fc
      rows+=("$(awk -F, '$1 == "ferry" { printf "%s %.0f %s ", $10, $9, $3 }' "$P.csv") $(awk -F, '$1 == "ferry" { print $10 }' "$P-native.csv") ${W[$pol,$r]} $(awk '/^# calls / { s += $3 } END { print s }' "${PR[none,$r]}")")
    done
    # rows: pred fwd fc predn meas calls
    printf '%s\n' "${rows[@]}" | awk -v prov="$PROV" -v pol="$pol" -v n="$REPEAT" \
      -v d="$( [ "$pol" = data ] || [ "$pol" = all ] && echo /pfs || echo local)" \
      -v m="$( [ "$pol" = meta ] || [ "$pol" = all ] && echo /pfs || echo local)" \
      -v meas="${MEAS[$pol]}" -v mn="${MIN[$pol]}" -v mx="${MAX[$pol]}" -v nat="$NATIVE_S" \
      -v base="${MEAS[none]}" -v t="$TRAP_US" -v prof="raw/$(basename "${PROF[$pol]}")" '
      function med(a, k,   i, j, x) {
        for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
        return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
      { k++; p[k] = $1; fwd = $2; fc[k] = $3; pn[k] = $4; e[k] = 100 * ($1 - $5) / $5; en[k] = 100 * ($4 - $5) / $5; calls = $6
        emin = (k == 1 || e[k] < emin) ? e[k] : emin; emax = (k == 1 || e[k] > emax) ? e[k] : emax }
      END {
        printf "%s,%s,%s,%s,%d,%s,%s,%s,%s,%s,%s,%s,%.3f,%s,%.6f,%.2f,%.6f,%.2f,%s,%.2f,%.2f\n",
          prov, pol, d, m, n, meas, mn, mx, nat, base, calls, fwd, med(fc, k), t,
          med(p, k), med(e, k), med(pn, k), med(en, k), prof, emin, emax }' >>"$CSV"
  done
  cp "$OUT/raw/predict-$PROV-all-1.txt" "$OUT/raw/predict-$PROV-all.txt"
  # the paper's policies on the baseline, and its surfaces
  echo "-- ferry-model on the 'none' profile (the paper's policies; 'ferry' = the 'all' run's split):"
  cat "$OUT/raw/predict-$PROV-all.txt"
  "$MODEL" -q "${FC_ARGS[@]}" --wall "${MEAS[none]}" --policy-from "${PROF[all]}" \
    --surface "$OUT/surfaces-$PROV" --grid "$([ "$QUICK" = 1 ] && echo 8 || echo 25)" "${PROF[none]}" \
    >"$OUT/raw/surfaces-$PROV.txt" 2>&1 || { cat "$OUT/raw/surfaces-$PROV.txt"; die "ferry-model --surface failed"; }
  unset MEAS MIN MAX PROF RUNS W PR
  echo
done

# ---- the table ----
echo "== predicted against measured (seconds; medians of $REPEAT runs; errors: median of the runs' errors) =="
cat "$OUT/machine.txt"
printf '\n%-5s %-5s | %10s %10s | %10s %8s %17s | %10s %8s | %9s %8s\n' prov policy measured native \
  predicted "error" "(range)" "from nat." "error" "fwd calls" "f_c us"
awk -F, 'NR > 1 {
  printf "%-5s %-5s | %10.4f %10.4f | %10.4f %7.1f%% [%6.1f, %6.1f] | %10.4f %7.1f%% | %9s %8.2f\n",
    $1, $2, $6, $9, $15, $16, $20, $21, $17, $18, $12, $13 }' "$CSV"
echo
echo "predicted: the paper's refined model from the 'none' run's profile and run time, per"
echo "  repetition with that repetition's f_c (gamma 1; b(s) = the share of calls of s the"
echo "  policy's run forwarded); f_c us: the median over the repetitions."
echo "from nat.: the same from the native run time, plus the interception cost t per call."

bench_plot_report "$OUT" "$CSV" plot_model.sh "$CSV" "$OUT/model.png"
for PROV in "${PROV_LIST[@]}"; do
  [ -f "$OUT/surfaces-$PROV/surfaces.png" ] && echo "surfaces: $OUT/surfaces-$PROV/surfaces.png"
done
exit 0

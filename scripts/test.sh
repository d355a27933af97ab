#!/usr/bin/env bash
# Install what is missing, build Ferry in every CI configuration, run the whole
# test suite.  This is what CI runs (.ci/run).
#   scripts/test.sh [--quick]     --quick: the gcc build only
#
# Configurations (each its own build tree):
#   build/        gcc, -Werror: unit, integration and end-to-end tests
#   build-clang/  clang with AddressSanitizer + UBSan: unit and integration tests
#   build-tsan/   clang with ThreadSanitizer: unit and integration tests
#   build-fuzz/   clang libFuzzer: the wire decoder fuzzed for a bounded time
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

"$top/scripts/install-deps.sh" || { echo "test: installing dependencies failed"; exit 1; }

passed=0
failed=0
summary=()
jobs=$(nproc)

# run_config NAME CC CMAKE_ARGS CTEST_ARGS [BUILD_TARGETS]
run_config() {
  local name=$1 cc=$2 cargs=$3 targs=$4 dir="$top/$1"
  local targets=()
  [ -n "${5:-}" ] && targets=(--target $5)
  echo "=== $name: configure and build ($cc $cargs)"
  local t0=$SECONDS
  if ! CC=$cc cmake -S "$top" -B "$dir" $cargs >"$dir.log" 2>&1 ||
     ! cmake --build "$dir" -j"$jobs" "${targets[@]}" >>"$dir.log" 2>&1; then
    tail -n 60 "$dir.log"
    echo "=== $name: BUILD FAILED"
    failed=$((failed + 1))
    summary+=("$name: build failed")
    return
  fi
  echo "=== $name: test"
  local out
  out=$(cd "$dir" && ctest --output-on-failure --timeout 600 -j"$jobs" $targs 2>&1)
  echo "$out" | tail -n 80
  local p f
  p=$(echo "$out" | sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' | awk '{print $1-$2}')
  f=$(echo "$out" | sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p')
  p=${p:-0}; f=${f:-1}
  if echo "$out" | grep -q "No tests were found"; then p=0; f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  summary+=("$name: $p passed, $f failed ($((SECONDS - t0)) s)")
}

run_config build gcc "-DCMAKE_BUILD_TYPE=RelWithDebInfo" ""
if [ $quick -eq 0 ]; then
  run_config build-clang clang "-DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=address,undefined" "-LE e2e"
  run_config build-tsan clang "-DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=thread" "-LE e2e"
  # 30 s of libFuzzer on the decoders (the suite must fit CI's budget;
  # -DFERRY_FUZZ_SECONDS sets it for longer local runs).
  run_config build-fuzz clang "-DCMAKE_BUILD_TYPE=Debug -DFERRY_FUZZ=ON -DFERRY_FUZZ_SECONDS=30" "-L fuzz" "fuzz_decode fuzz_make_seeds"
fi

echo "=== summary"
printf '  %s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

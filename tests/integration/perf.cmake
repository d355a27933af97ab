# perf/: a smoke run of ferry-forward-bench against a real daemon (tiny
# iteration counts, no timing checked).  The real measurement is
# perf/run_bench.sh, which is not a test.
ferry_integration_test(perf_smoke
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/perf_smoke.sh TIMEOUT 120 LABELS perf)

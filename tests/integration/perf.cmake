# perf/: a smoke run of ferry-bench against a real daemon, one and two client
# processes, and of perf/run_bench.sh --quick on shm (tiny iteration counts,
# no timing checked).  The real measurement is perf/run_bench.sh without
# --quick, which is not a test.
ferry_integration_test(perf_smoke
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/perf_smoke.sh TIMEOUT 180 LABELS perf)

# perf/run_sock_bench.sh --quick: sockets direct and forwarded through a
# real ferry-iond on tcp and shm, and fi_pingpong; the CSV complete (no
# timing checked).
if(TARGET ferry-sock-bench)
  ferry_integration_test(sock_bench_smoke
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/sock_bench_smoke.sh TIMEOUT 300 LABELS perf)
endif()

# perf/run_intercept_bench.sh --quick: interception's added cost, native,
# SIGSYS, fast path and interposed, with a forwarded pread (no timing
# checked).  Programs under the preloaded runtime: not in sanitizer builds.
if(TARGET ferry-intercept-bench)
  ferry_integration_test(intercept_bench_smoke
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/intercept_bench_smoke.sh TIMEOUT 180 LABELS "e2e;perf")
endif()

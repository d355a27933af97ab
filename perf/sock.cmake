# ferry-sock-bench: TCP latency, streaming throughput and connection rate,
# direct or through Ferry's socket forwarding (perf/run_sock_bench.sh).
add_executable(ferry-sock-bench ${CMAKE_CURRENT_LIST_DIR}/sock_bench.c)
target_link_libraries(ferry-sock-bench PRIVATE Threads::Threads)
# It runs under the runtime: a sanitized build needs the shared ASan runtime.
ferry_cnk_shared_asan(ferry-sock-bench)

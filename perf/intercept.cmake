# ferry-intercept-bench: what interception adds to one call (native, the
# SIGSYS path, the fast path); perf/run_intercept_bench.sh drives it.
add_executable(ferry-intercept-bench ${CMAKE_CURRENT_LIST_DIR}/intercept_bench.c)
target_link_libraries(ferry-intercept-bench PRIVATE ${CMAKE_DL_LIBS})
# The same calls interleaved in one process (drift on a shared machine cancels).
add_executable(ferry-intercept-interleaved ${CMAKE_CURRENT_LIST_DIR}/intercept_interleaved.c)
target_link_libraries(ferry-intercept-interleaved PRIVATE ${CMAKE_DL_LIBS})

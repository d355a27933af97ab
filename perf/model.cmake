# ferry-model: the delegation speedup model (perf/model.c) over a Ferry
# profile or strace -c output; ferry-synthetic: the benchmark that validates
# it (perf/run_model.sh runs both).
add_library(ferry_model STATIC model.c)
target_include_directories(ferry_model PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(ferry_model PUBLIC m)

add_executable(ferry-model ferry_model.c)
target_link_libraries(ferry-model PRIVATE ferry_model)

add_executable(ferry-synthetic synthetic.c)
target_link_libraries(ferry-synthetic PRIVATE m)

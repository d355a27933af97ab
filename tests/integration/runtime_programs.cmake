# Whole programs under the runtime: threads, fork, exec, programs in /pfs.
foreach(prog pwrite_threads exec_script fork_share small_stacks lock_signals)
  add_executable(${prog} ${CMAKE_CURRENT_LIST_DIR}/programs/${prog}.c)
  target_link_libraries(${prog} PRIVATE Threads::Threads)
  set_target_properties(${prog} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endforeach()
foreach(prov tcp shm)
  ferry_integration_test(runtime_programs_${prov}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/runtime_programs.sh ${prov} TIMEOUT 400 LABELS e2e)
endforeach()

# A static program (no dynamic loader to preload into); not with sanitizers,
# whose runtimes do not link statically.
if(NOT FERRY_SANITIZE)
  add_executable(static_hello ${CMAKE_CURRENT_LIST_DIR}/programs/static_hello.c)
  target_link_options(static_hello PRIVATE -static)
  set_target_properties(static_hello PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()

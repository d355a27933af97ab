# The runtime's interposed libc calls behave as libc's, locally and on
# forwarded descriptors, and the common read/write path takes no SIGSYS.
add_executable(interposed_calls ${CMAKE_CURRENT_LIST_DIR}/programs/interposed_calls.c)
target_link_libraries(interposed_calls PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
set_target_properties(interposed_calls PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
# A sanitized build: the program carries the ASan runtime the preloaded
# libferry.so needs.
ferry_cnk_shared_asan(interposed_calls)
# Preloaded behind the runtime: its constructor's calls come before the
# runtime is armed.
add_library(interposed_preinit MODULE ${CMAKE_CURRENT_LIST_DIR}/programs/interposed_preinit.c)
# It stands for a library of the system: uninstrumented in a sanitized build
# (it is loaded into ferry-exec and timeout too).
target_link_libraries(interposed_preinit PRIVATE ${CMAKE_DL_LIBS})
target_compile_options(interposed_preinit PRIVATE -fno-sanitize=all)
set_target_properties(interposed_preinit PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests
  PREFIX "lib")
foreach(prov tcp shm)
  ferry_integration_test(interposed_calls_${prov}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/interposed_calls.sh ${prov} TIMEOUT 300 LABELS e2e)
endforeach()

# Forwarded sockets, the compute side: sock_client and unmodified tools
# (curl, python3) under ferry-exec against servers on 127.0.0.1, through a
# real ferry-iond on tcp and shm.
add_executable(sock_client ${CMAKE_CURRENT_LIST_DIR}/programs/sock_client.c)
target_link_libraries(sock_client PRIVATE Threads::Threads)
ferry_cnk_shared_asan(sock_client)
set_target_properties(sock_client PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
foreach(prov tcp shm)
  ferry_integration_test(cnk_sockets_${prov}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/sockets.sh ${prov} "${FERRY_SANITIZE}" TIMEOUT 300
    LABELS "e2e;sockets")
endforeach()

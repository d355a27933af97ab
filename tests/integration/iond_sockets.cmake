# Socket forwarding, daemon side: a real ferry-iond on tcp and shm, with TCP
# and UDP peers the test runs on 127.0.0.1.
add_executable(iond_sockets ${CMAKE_CURRENT_LIST_DIR}/iond_sockets.c)
target_link_libraries(iond_sockets PRIVATE iond_harness)
set_target_properties(iond_sockets PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_dependencies(iond_sockets ferry-iond)
foreach(prov tcp shm)
  ferry_integration_test(iond_sockets_${prov} COMMAND iond_sockets ${prov} TIMEOUT 180
    LABELS "iond;sockets")
endforeach()
# Socket waits on their own pool; the [sockets] policy from a config file;
# --no-sockets.
foreach(mode pool policy disabled)
  ferry_integration_test(iond_sockets_${mode} COMMAND iond_sockets tcp ${mode} TIMEOUT 60
    LABELS "iond;sockets")
endforeach()

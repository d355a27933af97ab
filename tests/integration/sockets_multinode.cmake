# Sockets through the I/O node on the test bed with an outside host (needs
# root, skipped otherwise): compute nodes fetch from out1 through io1, four
# ranks serve one port behind io1, a rank killed mid-way, a refused port,
# names resolved through io1.
if(TARGET ferry-run AND TARGET http_hello)
  ferry_integration_test(sockets_multinode
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/sockets_multinode.sh TIMEOUT 240 LABELS e2e)
  set_tests_properties(sockets_multinode PROPERTIES SKIP_RETURN_CODE 77)
endif()

# Clustering across two I/O nodes that share one outside address (an
# equal-cost multipath route on out1): 4 ranks behind io1 and io2 serve
# port 8080, 400 requests to the shared address (needs root).
if(TARGET ferry-run AND TARGET http_hello)
  ferry_integration_test(sockets_shared_address
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/sockets_shared_address.sh TIMEOUT 180 LABELS e2e)
  set_tests_properties(sockets_shared_address PROPERTIES SKIP_RETURN_CODE 77)
endif()

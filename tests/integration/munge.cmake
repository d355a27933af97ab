# MUNGE authentication of sessions, with a real munged started by the test
# (munge_lib.sh): the protocol cases spoken by iond_auth.c (every build), and
# programs under ferry-exec (e2e).
add_executable(iond_auth ${CMAKE_CURRENT_LIST_DIR}/iond_auth.c)
target_link_libraries(iond_auth PRIVATE iond_harness PkgConfig::MUNGE)
set_target_properties(iond_auth PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_dependencies(iond_auth ferry-iond)
foreach(prov tcp shm)
  ferry_integration_test(iond_auth_${prov}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/munge_auth.sh ${prov} daemon TIMEOUT 150 LABELS "iond;auth")
  ferry_integration_test(munge_auth_${prov}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/munge_auth.sh ${prov} e2e TIMEOUT 180 LABELS "e2e;auth")
endforeach()

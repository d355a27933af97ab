# The dispatcher's process-level behaviour under the real runtime: what it
# carries across exec (cwd, forwarded descriptors).
foreach(prov tcp shm)
  ferry_integration_test(cnk_exec_state_${prov}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cnk_exec_state.sh ${prov} TIMEOUT 180 LABELS e2e)
endforeach()

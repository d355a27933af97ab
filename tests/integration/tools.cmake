# End-to-end tests: a real ferry-iond on each provider, unmodified programs
# under ferry-exec.
foreach(prov tcp shm)
  ferry_integration_test(unmodified_tools_${prov}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/unmodified_tools.sh ${prov} TIMEOUT 300 LABELS e2e)
  ferry_integration_test(kill_client_${prov}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/kill_client.sh ${prov} TIMEOUT 180 LABELS e2e)
endforeach()

# The main job: an MPI program under ferry-exec, started by the real mpirun.
if(TARGET mpi_io_demo)
  foreach(prov tcp shm)
    ferry_integration_test(mpi_job_${prov}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/mpi_job.sh ${prov} TIMEOUT 180 LABELS e2e)
  endforeach()
endif()

# MPI-IO and parallel HDF5 through Ferry, and a job submitted to a
# single-machine Slurm.  All start their own daemons (label e2e).
if(TARGET mpiio_check)
  foreach(prov tcp shm)
    ferry_integration_test(mpiio_${prov}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/mpiio.sh ${prov} TIMEOUT 240 LABELS e2e)
  endforeach()
endif()
if(TARGET h5_parallel)
  foreach(prov tcp shm)
    ferry_integration_test(hdf5_${prov}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/hdf5.sh ${prov} TIMEOUT 240 LABELS e2e)
  endforeach()
endif()

# The example batch script under a single-machine Slurm (needs root: 77 = skipped).
if(TARGET mpiio_check AND TARGET h5_parallel)
  ferry_integration_test(slurm_job
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/slurm.sh TIMEOUT 300 LABELS e2e)
  set_tests_properties(slurm_job PROPERTIES SKIP_RETURN_CODE 77)
endif()

# Several nodes on one machine (tests/testbed, network namespaces; needs
# root, skipped otherwise): ferry-run with 4 compute and 2 I/O nodes.
if(TARGET mpi_io_demo AND TARGET ferry-run)
  ferry_integration_test(multinode
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/multinode.sh TIMEOUT 300 LABELS e2e)
  set_tests_properties(multinode PROPERTIES SKIP_RETURN_CODE 77)
endif()

# ferry-run on one machine: --local jobs, exit status, failures, --config,
# partition planning, ferry-exec's I/O node map.
if(TARGET ferry-run)
  ferry_integration_test(multinode_local
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/multinode_local.sh TIMEOUT 180 LABELS e2e)
endif()

# Slurm across the test bed: slurmctld and a slurmd on each of 6 nodes, a
# batch job running ferry-run -- srun (needs root, skipped otherwise).
if(TARGET ferry-run)
  ferry_integration_test(multinode_slurm
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/multinode_slurm.sh TIMEOUT 300 LABELS e2e)
  set_tests_properties(multinode_slurm PROPERTIES SKIP_RETURN_CODE 77)
endif()

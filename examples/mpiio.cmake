# MPI-IO and parallel HDF5 examples (included by examples/CMakeLists.txt).
if(MPI_C_FOUND)
  add_executable(mpiio_check ${CMAKE_CURRENT_LIST_DIR}/mpiio_check.c)
  target_link_libraries(mpiio_check PRIVATE MPI::MPI_C)
endif()

# Parallel HDF5, built the way HDF5 users build: with the h5pcc wrapper
# (parallel HDF5 over this MPI), not through the project's compiler flags.
find_program(FERRY_H5PCC NAMES h5pcc h5pcc.openmpi)
if(MPI_C_FOUND AND FERRY_H5PCC)
  execute_process(COMMAND ${FERRY_H5PCC} -showconfig OUTPUT_VARIABLE _ferry_h5conf ERROR_QUIET)
  if(_ferry_h5conf MATCHES "Parallel HDF5: yes")
    set(_ferry_h5_flags -std=gnu17 -O2 -g -Wall -Wextra -Wshadow)
    if(FERRY_WERROR)
      list(APPEND _ferry_h5_flags -Werror)
    endif()
    set(_ferry_h5_out ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/h5_parallel)
    add_custom_command(OUTPUT ${_ferry_h5_out}
      COMMAND ${FERRY_H5PCC} ${_ferry_h5_flags} -o ${_ferry_h5_out} ${CMAKE_CURRENT_LIST_DIR}/h5_parallel.c
      DEPENDS ${CMAKE_CURRENT_LIST_DIR}/h5_parallel.c
      COMMENT "Building h5_parallel with h5pcc"
      VERBATIM)
    add_custom_target(h5_parallel ALL DEPENDS ${_ferry_h5_out})
  else()
    message(WARNING "${FERRY_H5PCC} is not parallel HDF5: examples/h5_parallel is not built")
  endif()
else()
  message(STATUS "h5pcc not found: examples/h5_parallel is not built")
endif()

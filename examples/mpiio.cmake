# MPI-IO and parallel HDF5 examples (included by examples/CMakeLists.txt).
if(MPI_C_FOUND)
  add_executable(mpiio_check ${CMAKE_CURRENT_LIST_DIR}/mpiio_check.c)
  target_link_libraries(mpiio_check PRIVATE MPI::MPI_C)
endif()

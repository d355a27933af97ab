# The delegation speedup model behind ferry-model (perf/model.c).
ferry_unit_test(test_model
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model.c
  LIBS ferry_model
  TIMEOUT 30)

# The runtime's profile (cnk/profile.c) in-process, threads and fork.
ferry_unit_test(test_profile
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_profile.c
          ${CMAKE_SOURCE_DIR}/cnk/profile.c ${CMAKE_SOURCE_DIR}/cnk/runtime_fds.c
  LIBS ferry_model ferry_proto
  TIMEOUT 30)
target_include_directories(test_profile PRIVATE ${CMAKE_SOURCE_DIR}/cnk)

# ferry-iond's own pieces, without a network: sessions and descriptor
# ownership, and the worker pool.
ferry_unit_test(test_iond_session
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_iond_session.c
          ${PROJECT_SOURCE_DIR}/ionode/session.c ${PROJECT_SOURCE_DIR}/ionode/stats.c
          ${PROJECT_SOURCE_DIR}/ionode/warn_limit.c
  LIBS ferry_proto LABELS iond TIMEOUT 60)
target_include_directories(test_iond_session PRIVATE ${PROJECT_SOURCE_DIR}/ionode)

ferry_unit_test(test_iond_workers
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_iond_workers.c ${PROJECT_SOURCE_DIR}/ionode/workers.c
  LIBS ferry_proto LABELS iond TIMEOUT 60)
target_include_directories(test_iond_workers PRIVATE ${PROJECT_SOURCE_DIR}/ionode)

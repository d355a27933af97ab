# The socket event codec (rpc/proto.c: ferry_sockev_encode/decode).
ferry_unit_test(test_sockev
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sockev.c
  LIBS ferry_proto
  TIMEOUT 60
  LABELS "codec;sockets")

# ferry-iond's socket policy and the session's socket-state hook, without a
# network.
ferry_unit_test(test_iond_sockets
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_iond_sockets.c ${PROJECT_SOURCE_DIR}/ionode/sock_policy.c
          ${PROJECT_SOURCE_DIR}/ionode/session.c ${PROJECT_SOURCE_DIR}/ionode/stats.c
          ${PROJECT_SOURCE_DIR}/ionode/warn_limit.c
  LIBS ferry_proto LABELS "iond;sockets" TIMEOUT 60)
target_include_directories(test_iond_sockets PRIVATE ${PROJECT_SOURCE_DIR}/ionode)

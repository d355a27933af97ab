# The socket event codec (rpc/proto.c: ferry_sockev_encode/decode).
ferry_unit_test(test_sockev
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sockev.c
  LIBS ferry_proto
  TIMEOUT 60
  LABELS "codec;sockets")

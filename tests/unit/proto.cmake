# The wire codec and logging (rpc/proto.c, rpc/log.c).
ferry_unit_test(test_proto
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_proto.c
  LIBS ferry_proto
  TIMEOUT 60
  LABELS codec)

# rpc/ transport tests: a server thread and clients in one process, over shm
# and tcp on 127.0.0.1.
ferry_unit_test(test_rpc_uri
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_rpc_uri.c
  LIBS ferry_rpc
  TIMEOUT 30)
ferry_unit_test(test_rpc_transport
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_rpc_transport.c
  LIBS ferry_rpc
  TIMEOUT 600)
target_include_directories(test_rpc_transport PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/../rpc)
ferry_unit_test(test_rpc_signals
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_rpc_signals.c
  LIBS ferry_rpc
  TIMEOUT 60)

# fsproxy: export mapping, confinement and the POSIX backend.
ferry_unit_test(test_fsproxy
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fsproxy.c
  LIBS ferry_fsproxy
  TIMEOUT 60
  LABELS fsproxy)

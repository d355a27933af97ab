# Unit tests of the dispatcher side of the runtime (cnk/dispatch.cmake).
set(_cnkd_src ${CMAKE_SOURCE_DIR}/cnk)
include(${_cnkd_src}/dispatch.cmake)

ferry_unit_test(test_cnk_policy
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cnk_policy.c ${_cnkd_src}/policy.c ${_cnkd_src}/fdtable.c
  LIBS ferry_proto)
target_include_directories(test_cnk_policy PRIVATE ${_cnkd_src})

ferry_unit_test(test_cnk_fdtable
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cnk_fdtable.c ${_cnkd_src}/fdtable.c)
target_include_directories(test_cnk_fdtable PRIVATE ${_cnkd_src})

ferry_unit_test(test_cnk_stat
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cnk_stat.c ${_cnkd_src}/statx_convert.c)
target_include_directories(test_cnk_stat PRIVATE ${_cnkd_src})

# The whole dispatcher, called as plain C (no interception), against a real
# ferry-iond started by the test.
if(TARGET ferry-iond)
  ferry_unit_test(test_cnk_forward
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cnk_forward.c ${CNK_DISPATCH_SOURCES}
    LIBS ferry_rpc PkgConfig::MUNGE
    TIMEOUT 120)
  target_include_directories(test_cnk_forward PRIVATE ${_cnkd_src})
  target_compile_definitions(test_cnk_forward PRIVATE FERRY_IOND="$<TARGET_FILE:ferry-iond>")
  add_dependencies(test_cnk_forward ferry-iond)
endif()

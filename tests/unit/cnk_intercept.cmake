# Unit tests of the interception mechanism (cnk/intercept_sud.c, signals.c,
# init.c, trampoline_x86_64.S) and of ferry-exec.  The mechanism is linked
# with a test dispatcher into libferry_sudtest.so; probe programs run with it
# preloaded and check their own behaviour; the cmocka driver runs them.
set(_sud_dir ${CMAKE_CURRENT_LIST_DIR})

ferry_cnk_runtime_library(ferry_sudtest SOURCES ${_sud_dir}/sud_test_dispatch.c)
target_include_directories(ferry_sudtest PRIVATE ${_sud_dir})
set_target_properties(ferry_sudtest PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

add_executable(sud_probe ${_sud_dir}/sud_probe.c)
target_include_directories(sud_probe PRIVATE ${_sud_dir})
target_link_libraries(sud_probe PRIVATE Threads::Threads)
set_target_properties(sud_probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
ferry_cnk_shared_asan(sud_probe)

# A statically linked program, for ferry-exec's refusal (needs libc.a).
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_LINK_OPTIONS -static)
check_c_source_compiles("int main(void) { return 0; }" FERRY_HAVE_STATIC_LIBC)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
set(_sud_static "")
if(FERRY_HAVE_STATIC_LIBC AND NOT FERRY_SANITIZE)
  add_executable(sud_static_probe ${_sud_dir}/sud_static_probe.c)
  target_link_options(sud_static_probe PRIVATE -static)
  set_target_properties(sud_static_probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  set(_sud_static $<TARGET_FILE:sud_static_probe>)
endif()

ferry_unit_test(sud_intercept_test SOURCES ${_sud_dir}/sud_intercept_test.c TIMEOUT 300)
target_include_directories(sud_intercept_test PRIVATE ${_sud_dir})
target_compile_definitions(sud_intercept_test PRIVATE
  SUD_PROBE="$<TARGET_FILE:sud_probe>"
  SUD_LIBRARY="$<TARGET_FILE:ferry_sudtest>"
  SUD_FERRY_EXEC="$<TARGET_FILE:ferry-exec>"
  SUD_STATIC_PROBE="${_sud_static}")
ferry_cnk_shared_asan(sud_intercept_test)
if(FERRY_SANITIZE)
  target_compile_definitions(sud_intercept_test PRIVATE SUD_SANITIZED=1)
endif()
if(FERRY_SANITIZE MATCHES "thread")
  target_compile_definitions(sud_intercept_test PRIVATE SUD_TSAN=1)
endif()
add_dependencies(sud_intercept_test sud_probe ferry_sudtest ferry-exec)
if(_sud_static)
  add_dependencies(sud_intercept_test sud_static_probe)
endif()

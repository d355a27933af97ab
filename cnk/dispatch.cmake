# The dispatcher side of libferry.so: the syscall table, policy, forwarded
# descriptors and the session with the I/O node.  cnk/CMakeLists.txt adds
# these to the library next to the interception mechanism.
set(CNK_DISPATCH_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/dispatch.c
  ${CMAKE_CURRENT_LIST_DIR}/policy.c
  ${CMAKE_CURRENT_LIST_DIR}/fdtable.c
  ${CMAKE_CURRENT_LIST_DIR}/session.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_fds.c
  ${CMAKE_CURRENT_LIST_DIR}/statx_convert.c
  ${CMAKE_CURRENT_LIST_DIR}/forward_fd.c
  ${CMAKE_CURRENT_LIST_DIR}/forward_io.c
  ${CMAKE_CURRENT_LIST_DIR}/forward_path.c
  ${CMAKE_CURRENT_LIST_DIR}/forward_cwd.c
  ${CMAKE_CURRENT_LIST_DIR}/forward_exec.c
  ${CMAKE_CURRENT_LIST_DIR}/forward_mmap.c
  ${CMAKE_CURRENT_LIST_DIR}/profile.c
  ${CMAKE_CURRENT_LIST_DIR}/credential.c
  ${CMAKE_CURRENT_LIST_DIR}/fwd_stack.c
  ${CMAKE_CURRENT_LIST_DIR}/sock.c
  ${CMAKE_CURRENT_LIST_DIR}/sock_pump.c
  ${CMAKE_CURRENT_LIST_DIR}/fwd_stack_x86_64.S)

# Socket examples (included by examples/CMakeLists.txt): ordinary programs
# whose sockets Ferry forwards through the I/O node (ferry-sockets(7)).
add_executable(http_hello ${CMAKE_CURRENT_LIST_DIR}/http_hello.c)

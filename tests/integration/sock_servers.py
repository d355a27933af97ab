#!/usr/bin/env python3
"""Echo servers for sockets.sh (python3 stdlib only), on 127.0.0.1.

  sock_servers.py echo PORTFILE LOGFILE
      A TCP echo server (a thread per connection: echoes until EOF, then
      closes) and a UDP echo server on the same port number; writes the port
      to PORTFILE once both listen, and one line "tcp PEER_PORT" or
      "udp PEER_PORT" per connection or datagram to LOGFILE (the peer as the
      server's kernel saw it).
  sock_servers.py blackhole PORTFILE
      A TCP listener that never accepts, its backlog filled by its own
      connections: a further connect to it waits (its SYNs are dropped).
  sock_servers.py connect PORT
      Connect to 127.0.0.1:PORT, print "local PORT" (this end's port), send
      "hello\\n", print what comes back, exit 0 when it is the same.
"""
import socket
import sys
import threading


def echo(portfile, logfile):
    log = open(logfile, "a", buffering=1)
    lock = threading.Lock()
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # The same free port for both.
    for _ in range(100):
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        try:
            udp.bind(("127.0.0.1", port))
            break
        except OSError:
            tcp.close()
            tcp = socket.socket()
    tcp.listen(64)

    def serve(conn, peer):
        with lock:
            log.write("tcp %d\n" % peer[1])
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)

    def udp_loop():
        while True:
            data, peer = udp.recvfrom(65536)
            with lock:
                log.write("udp %d\n" % peer[1])
            udp.sendto(data, peer)

    threading.Thread(target=udp_loop, daemon=True).start()
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % port)
    import os
    os.rename(portfile + ".tmp", portfile)
    while True:
        conn, peer = tcp.accept()
        threading.Thread(target=serve, args=(conn, peer), daemon=True).start()


def blackhole(portfile):
    import os
    import time
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(0)
    port = lsn.getsockname()[1]
    fillers = []
    for _ in range(2):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.5)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(portfile + ".tmp", portfile)
    while True:
        time.sleep(3600)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    print("local %d" % s.getsockname()[1], flush=True)
    s.sendall(b"hello\n")
    got = b""
    while not got.endswith(b"\n"):
        data = s.recv(100)
        if not data:
            break
        got += data
    print("got %r" % got, flush=True)
    return 0 if got == b"hello\n" else 1


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        echo(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "blackhole":
        blackhole(sys.argv[2])
    elif sys.argv[1] == "connect":
        sys.exit(connect(int(sys.argv[2])))
    else:
        sys.exit("usage: sock_servers.py echo PORTFILE LOGFILE | connect PORT")

#!/usr/bin/env bash
# Forwarded sockets, the compute side (issue 5), on one machine: a real
# ferry-iond, servers on 127.0.0.1, programs under ferry-exec with
# FERRY_SOCKET_FORWARD=127.0.0.0/8 (so loopback destinations go through the
# I/O node, as outside hosts would on a compute node) and
# FERRY_SOCKET_BIND=forward (the daemon owns the listening port).  Every
# check also proves the I/O node carried the traffic: its SOCK_* calls are
# counted in its log, and ss shows which process owns each connection.
#   sockets.sh tcp|shm [SANITIZERS]
source "$(dirname "$0")/lib.sh"
PROV=${1:?usage: sockets.sh tcp|shm [SANITIZERS]}
# A ThreadSanitizer build's runtime loads only into instrumented programs:
# the unmodified tools (curl, python3) are left out there.
TOOLS=yes
case ${2:-} in *thread*) TOOLS=no ;; esac
SRC=$(cd "$(dirname "$0")" && pwd)
SC=$FERRY_BUILD/tests/sock_client
# A sanitizer build's runtime is preloaded before the program's ASan.
export ASAN_OPTIONS=verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
LISTEN_PORT=$(free_tcp_port)
DENIED_PORT=$(free_tcp_port)
CLOSED_PORT=$(free_tcp_port)
while [ "$DENIED_PORT" = "$LISTEN_PORT" ]; do DENIED_PORT=$(free_tcp_port); done
start_iond "$PROV" --log-level debug --listen-ports "$LISTEN_PORT"

PIDS=()
stop_servers() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap 'cleanup_with stop_servers' EXIT

# The echo servers (TCP and UDP on one port).
python3 "$SRC/sock_servers.py" echo "$T_DIR/echo.port" "$T_DIR/echo.log" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$T_DIR/echo.port" ] && break; sleep 0.1; done
EPORT=$(cat "$T_DIR/echo.port")

# A web server with a file bigger than one credit window.
mkdir -p "$T_DIR/www"
head -c 700000 /dev/urandom >"$T_DIR/www/big.bin"
HPORT=$(free_tcp_port)
(cd "$T_DIR/www" && exec python3 -m http.server "$HPORT" --bind 127.0.0.1) >"$T_DIR/http.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$HPORT/" && break; sleep 0.1; done

# sx CMD...: CMD under the runtime, loopback forwarded, no mount (the
# session opens with the first forwarded socket).
sx() {
  FERRY_SOCKET_FORWARD=127.0.0.0/8 FERRY_SOCKET_BIND=${SX_BIND:-forward} \
    timeout -k 5 60 "$FEXEC" --ionode "$IONODE_URI" -- "$@"
}
# ops NAME: how many NAME calls the daemon has run so far.
ops() { grep -c " $1 seq " "$IOND_LOG" || true; }
# went_through NAME BEFORE: the daemon ran NAME since BEFORE was counted.
went_through() { [ "$(ops "$1")" -gt "$2" ]; }
# sc_ok LINE ARGS...: sock_client ARGS under the runtime prints LINE.
sc_ok() {
  local want=$1; shift
  sx "$SC" "$@" >"$T_DIR/sc.out" 2>&1 || true
  grep -qx "$want" "$T_DIR/sc.out" && return 0
  cat "$T_DIR/sc.out"
  return 1
}

# --- TCP: blocking connect, 600 KB both ways at once, names, shutdown ---
c0=$(ops SOCK_CONNECT); s0=$(ops SOCK_SEND); t0=$(grep -c '^tcp' "$T_DIR/echo.log" || true)
check "echo of 600000 bytes both ways, getpeername/getsockname AF_INET, shutdown(SHUT_WR) then the rest" \
  sc_ok "ok echo 600000 bytes" echo $EPORT 600000
check "the I/O node connected" went_through SOCK_CONNECT "$c0"
check "the I/O node sent the data" went_through SOCK_SEND "$s0"
check "the echo server saw the connection" test "$(grep -c '^tcp' "$T_DIR/echo.log")" -gt "$t0"

# --- non-blocking connect, refused connects ---
c0=$(ops SOCK_CONNECT)
check "non-blocking connect: EINPROGRESS, EALREADY, POLLOUT, SO_ERROR 0, EISCONN, TCP_NODELAY kept" \
  sc_ok "ok nbconnect" nbconnect $EPORT
check "ECONNREFUSED from a blocking connect, SO_ERROR from a non-blocking one" \
  sc_ok "ok refused" refused $CLOSED_PORT
check "the I/O node made those connects" test "$(ops SOCK_CONNECT)" -ge $((c0 + 3))

# --- a blocking connect waits interruptibly: SA_RESTART restarts it ---
python3 "$SRC/sock_servers.py" blackhole "$T_DIR/hole.port" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$T_DIR/hole.port" ] && break; sleep 0.1; done
check "a blocking connect: a SA_RESTART handler's signal restarts it, another's gives EINTR" \
  sc_ok "ok interrupt" interrupt "$(cat "$T_DIR/hole.port")"

# --- poll, epoll and select mixing a forwarded socket with local fds ---
check "poll, epoll and select over a forwarded socket, a pipe and a socketpair" \
  sc_ok "ok mixpoll" mixpoll $EPORT

# --- connected UDP ---
s0=$(ops SOCK_SEND); u0=$(grep -c '^udp' "$T_DIR/echo.log" || true)
check "connected UDP echo, datagram boundaries, recvfrom/recvmsg give the server's address" \
  sc_ok "ok udp" udp $EPORT
check "the datagrams went through the I/O node" went_through SOCK_SEND "$s0"
check "the UDP server got them" test "$(grep -c '^udp' "$T_DIR/echo.log")" -gt "$u0"

# --- unconnected UDP: a client's sendto, a server on a port of the job's ---
s0=$(ops SOCK_SEND); b0=$(ops SOCK_BIND); u0=$(grep -c '^udp' "$T_DIR/echo.log" || true)
check "unconnected UDP: sendto/sendmsg name the server, recvfrom/recvmsg give its address" \
  sc_ok "ok udp_unconnected" udp_unconnected $EPORT
check "the socket was made at the I/O node" went_through SOCK_BIND "$b0"
check "the I/O node sent the datagrams" test "$(ops SOCK_SEND)" -ge $((s0 + 3))
check "the UDP server got them from one address" \
  test "$(grep '^udp' "$T_DIR/echo.log" | tail -n +$((u0 + 1)) | sort -u | wc -l)" -eq 1
sx "$SC" udp_server "$LISTEN_PORT" >"$T_DIR/udpsrv.out" 2>&1 &
UDPSRV=$!
for _ in $(seq 100); do grep -q bound "$T_DIR/udpsrv.out" && break; sleep 0.1; done
udp_replies=$(python3 - "$LISTEN_PORT" <<'PY' 2>&1
import socket, sys
port = int(sys.argv[1])
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(10)
for m in (b"a", b"bb", b"c" * 1200):
    c.sendto(m, ("127.0.0.1", port))
    d, peer = c.recvfrom(4096)
    print(d == b"echo:" + m, peer[1] == port)
PY
)
wait "$UDPSRV" || true
check "a UDP server on a port of the job's answers 3 datagrams from the I/O node's port" \
  test "$udp_replies" == "$(printf 'True True\nTrue True\nTrue True')"
check "the UDP server program saw them" grep -qx "ok udp_server" "$T_DIR/udpsrv.out"
if [ "$TOOLS" = yes ]; then
  check "a UDP bind of a port the job may not use: EACCES" \
    sx python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except PermissionError:
    sys.exit(0)
sys.exit(1)' "$DENIED_PORT"
fi

# --- who owns the connection: the daemon, never the program ---
coproc HOLD { sx "$SC" hold "$EPORT" 2>&1; }
read -r -t 30 line <&"${HOLD[0]}" || line=
HOLD_OWNERS=$(ss -tnpH state established "( dport = :$EPORT )" 2>/dev/null | grep -o 'users:(("[^"]*"' | sort -u || true)
echo done >&"${HOLD[1]}"
wait "$HOLD_PID" 2>/dev/null || true
check "a held connection was made" test "$line" = connected
check "ss: the server's peer is ferry-iond, and the program has no connection of its own" \
  test "$HOLD_OWNERS" = 'users:(("ferry-iond"'

# --- fork: the child uses the parent's forwarded socket ---
check "a fork child reads and writes the parent's forwarded socket" \
  sc_ok "ok fork" fork $EPORT

# --- a forwarded listener ---
sx "$SC" listen "$LISTEN_PORT" >"$T_DIR/listen.out" 2>&1 &
LPID=$!
for _ in $(seq 100); do grep -q listening "$T_DIR/listen.out" && break; sleep 0.1; done
LISTEN_OWNER=$(ss -tlnpH "( sport = :$LISTEN_PORT )" 2>/dev/null | grep -o 'users:(("[^"]*"' | sort -u || true)
python3 "$SRC/sock_servers.py" connect "$LISTEN_PORT" >"$T_DIR/connect.out" 2>&1 || true
wait "$LPID" || true
CLIENT_PORT=$(sed -n 's/^local //p' "$T_DIR/connect.out")
check "the daemon listens on the job's port" test "$LISTEN_OWNER" = 'users:(("ferry-iond"'
check "a connection to the daemon's port reaches the program's accept and echoes" \
  sh -c "grep -qx 'ok listen' '$T_DIR/listen.out' && grep -q \"got b'hello\" '$T_DIR/connect.out'"
check "accept() gives the real client's address, not the pump's loopback one" \
  grep -qx "accept 127.0.0.1:$CLIENT_PORT" "$T_DIR/listen.out"
check "getpeername() on the accepted socket gives the real client too" \
  grep -qx "getpeername 127.0.0.1:$CLIENT_PORT" "$T_DIR/listen.out"
# A pre-forking server: fork children accept on the inherited listener
# (more connections than its accept credit: credit returns as connections
# reach the listener, not as the parent accepts them).
sx "$SC" prefork "$LISTEN_PORT" >"$T_DIR/prefork.out" 2>&1 &
LPID=$!
for _ in $(seq 100); do grep -q listening "$T_DIR/prefork.out" && break; sleep 0.1; done
echoed=0
for _ in 1 2 3 4 5 6; do
  python3 "$SRC/sock_servers.py" connect "$LISTEN_PORT" >/dev/null 2>&1 && echoed=$((echoed + 1))
done
wait "$LPID" || true
check "a pre-forking server's children accept and echo 6 connections made to the daemon's port" \
  sh -c "[ $echoed = 6 ] && grep -qx 'ok prefork' '$T_DIR/prefork.out'"

# A program that closes its listener leaves the port while it lives on.
sx "$SC" listen_close "$LISTEN_PORT" >"$T_DIR/lclose.out" 2>&1 &
LPID=$!
for _ in $(seq 100); do grep -q listening "$T_DIR/lclose.out" && break; sleep 0.1; done
OWNER_OPEN=$(ss -tlnpH "( sport = :$LISTEN_PORT )" 2>/dev/null | grep -o 'users:(("[^"]*"' | sort -u || true)
for _ in $(seq 100); do grep -q closed "$T_DIR/lclose.out" && break; sleep 0.1; done
sleep 2.5
OWNER_CLOSED=$(ss -tlnpH "( sport = :$LISTEN_PORT )" 2>/dev/null | grep -o 'users:(("[^"]*"' | sort -u || true)
check "a listener the program closes leaves the port (the daemon stops listening) while the program runs" \
  sh -c "[ '$OWNER_OPEN' = 'users:((\"ferry-iond\"' ] && [ -z '$OWNER_CLOSED' ] && kill -0 $LPID"
wait "$LPID" || true

check "a port the daemon does not allow: bind fails with EACCES" \
  sc_ok "ok bind_refused" bind_refused $DENIED_PORT
# Hybrid (the default): the session's open said which ports are the job's;
# another port is bound on this node only, without asking (MPI's TCP
# transports bind many).
b0=$(ops SOCK_BIND)
SX_BIND=hybrid check "hybrid: a port that is not the job's is bound on this node" \
  sc_ok "ok bind_local" bind_local $DENIED_PORT
check "hybrid: without a SOCK_BIND at the I/O node" test "$(ops SOCK_BIND)" -eq "$b0"

# --- unmodified tools ---
if [ "$TOOLS" = no ]; then
  echo "skip - curl and python3: a ThreadSanitizer runtime loads only into instrumented programs"
  stop_servers
  finish
  exit
fi
curl -s "http://127.0.0.1:$HPORT/big.bin" >"$T_DIR/curl.direct"
c0=$(ops SOCK_CONNECT)
sx curl -s "http://127.0.0.1:$HPORT/big.bin" >"$T_DIR/curl.ferry" || true
check "curl through the I/O node: byte-identical to a direct curl (700000 bytes)" \
  cmp -s "$T_DIR/curl.direct" "$T_DIR/curl.ferry"
check "curl's connection was the I/O node's" test "$(ops SOCK_CONNECT)" -gt "$c0"

PYGET='import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=30).read())'
PYCLIENT='import sys, http.client; c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30); c.request("GET", "/big.bin"); r = c.getresponse(); sys.stdout.buffer.write(r.read()); c.request("GET", "/big.bin"); sys.stdout.buffer.write(c.getresponse().read())'
c0=$(ops SOCK_CONNECT)
sx python3 -c "$PYGET" "http://127.0.0.1:$HPORT/big.bin" >"$T_DIR/urllib.ferry" || true
check "python3 urllib through the I/O node: the same bytes" cmp -s "$T_DIR/curl.direct" "$T_DIR/urllib.ferry"
sx python3 -c "$PYCLIENT" "$HPORT" >"$T_DIR/httpclient.ferry" || true
cat "$T_DIR/curl.direct" "$T_DIR/curl.direct" >"$T_DIR/twice.direct"
check "python3 http.client, two requests on one kept-alive connection: the same bytes" \
  cmp -s "$T_DIR/twice.direct" "$T_DIR/httpclient.ferry"
check "python's connections were the I/O node's" test "$(ops SOCK_CONNECT)" -ge $((c0 + 2))

# Many short connections: the I/O node reuses its handles (descriptor
# numbers) at once, and no event of a closed one may reach a new one.
head -c 5000 /dev/urandom >"$T_DIR/www/small.bin"
PYMANY='import sys, http.client
want = open(sys.argv[2], "rb").read()
for i in range(200):
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
    c.request("GET", "/small.bin")
    got = c.getresponse().read()
    c.close()
    if got != want:
        sys.exit("request %d: %d bytes, not the file" % (i, len(got)))
print("ok 200")'
fds_before=$(ls "/proc/$IOND_PID/fd" | wc -l)
c0=$(ops SOCK_CONNECT)
sx python3 -c "$PYMANY" "$HPORT" "$T_DIR/www/small.bin" >"$T_DIR/many.out" 2>&1 || true
check "200 short connections in a row, each the right bytes" grep -qx "ok 200" "$T_DIR/many.out"
check "... each through the I/O node" test "$(ops SOCK_CONNECT)" -ge $((c0 + 200))
sleep 1
check "... and the daemon closed them all (no descriptor left behind)" \
  test "$(ls "/proc/$IOND_PID/fd" | wc -l)" -le "$fds_before"

# An unmodified server: python3's http.server under the runtime, reached at
# the daemon's port.
(cd "$T_DIR/www" && FERRY_SOCKET_BIND=forward exec timeout -k 5 120 "$FEXEC" --ionode "$IONODE_URI" -- \
  python3 -m http.server "$LISTEN_PORT") >"$T_DIR/pyserver.log" 2>&1 &
PYSRV=$!
PIDS+=($PYSRV)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$LISTEN_PORT/" && break; sleep 0.1; done
PY_OWNER=$(ss -tlnpH "( sport = :$LISTEN_PORT )" 2>/dev/null | grep -o 'users:(("[^"]*"' | sort -u || true)
served=0
for _ in $(seq 10); do
  curl -s "http://127.0.0.1:$LISTEN_PORT/big.bin" | cmp -s - "$T_DIR/curl.direct" && served=$((served + 1))
done
kill "$PYSRV" 2>/dev/null || true
check "python3 -m http.server under the runtime serves 10 requests made to the daemon's port" test "$served" = 10
check "... the daemon owns the listening port" test "$PY_OWNER" = 'users:(("ferry-iond"'

# With a mount too: the session is the one the file forwarding opened.
c0=$(ops SOCK_CONNECT)
FERRY_SOCKET_FORWARD=127.0.0.0/8 timeout -k 5 60 "$FEXEC" --ionode "$IONODE_URI" --mount /pfs -- \
  sh -c "curl -s http://127.0.0.1:$HPORT/big.bin > /pfs/fetched.bin" || true
check "curl writing into /pfs (one session for files and sockets)" cmp -s "$T_DIR/curl.direct" "$EXPORT/fetched.bin"
check "... and its connection was the I/O node's" test "$(ops SOCK_CONNECT)" -gt "$c0"

# --- what stays native ---
c0=$(ops SOCK_CONNECT)
timeout -k 5 60 "$FEXEC" --ionode "$IONODE_URI" -- curl -s "http://127.0.0.1:$HPORT/big.bin" >"$T_DIR/curl.local" || true
FERRY_SOCKETS=off FERRY_SOCKET_FORWARD=127.0.0.0/8 timeout -k 5 60 "$FEXEC" --ionode "$IONODE_URI" -- \
  curl -s "http://127.0.0.1:$HPORT/big.bin" >"$T_DIR/curl.off" || true
check "loopback stays native without FERRY_SOCKET_FORWARD" cmp -s "$T_DIR/curl.direct" "$T_DIR/curl.local"
check "FERRY_SOCKETS=off forwards nothing" cmp -s "$T_DIR/curl.direct" "$T_DIR/curl.off"
check "... and the I/O node connected nothing for either" test "$(ops SOCK_CONNECT)" -eq "$c0"

stop_servers
finish

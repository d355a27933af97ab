#!/usr/bin/env bash
# Sockets through the I/O node (issue 5, "How it will be checked"), on the
# test bed with an outside host: 4 compute nodes c1..c4, one I/O node io1
# (ferry-run --ratio 4 starts its ferry-iond, allowed to bind port 8080) and
# out1, which only io1 reaches.
#   0. a compute node cannot reach out1 itself (ENETUNREACH): every success
#      below went through Ferry;
#   1. on each compute node, curl and a python3 http.client script fetch a
#      page from an HTTP server on out1, and curl once more by name: a DNS
#      server on out1 (the nodes' resolv.conf names it) answers for
#      www.outside.test through io1; the HTTP server saw io1's outside address
#      as the peer of every request; a DNS query from an unconnected UDP
#      socket (sendto, recvfrom) is answered by out1, which saw io1 ask;
#   2. four ranks, one per compute node, each first try to bind port 8081,
#      which the daemon does not allow (EACCES), then run http_hello on port
#      8080; out1 sends 1,000 requests to io1's outside address, 8 at a time:
#      all succeed, every rank served some;
#   3. again, with one rank killed (SIGKILL) after 300: the requests lost are
#      at most those in flight to it (the client's concurrency plus the
#      connections the daemon may have handed to it: its accept credit), and
#      it serves none after.
# Two ferry-run jobs (each starts io1's daemon through mpirun), to stay short.
source "$(dirname "$0")/lib.sh"
testbed_require mpirun curl python3
FRUN=$FERRY_BUILD/bin/ferry-run
HELLO=$FERRY_BUILD/bin/http_hello
TOOLS=$FERRY_SRC/tests/integration/sock_tools.py
TB=$FERRY_SRC/tests/testbed/testbed.sh
[ -x "$FRUN" ] && [ -x "$HELLO" ] || { echo "ferry-run or http_hello not built"; exit 1; }

TB_NAME=sk$$
SUBNET=10.41.0
OUTNET=10.42.0
OUT1=$OUTNET.1       # out1
IO1_OUT=$OUTNET.11   # io1's eth1: the address the outside sees
PORT=8080            # the port the daemon lets jobs bind
CONC=8               # the load client's concurrent requests
export FERRY_TESTBED_DIR=$T_DIR/testbed
STATE=$FERRY_TESTBED_DIR/$TB_NAME
PFS=$T_DIR/pfs
# Servers, jobs and whatever a failed check left running die with the
# namespaces.
tb_down() { "$TB" down --name "$TB_NAME" >/dev/null 2>&1; }
trap 'cleanup_with tb_down' EXIT

"$TB" up --name "$TB_NAME" --compute 4 --ionodes 1 --subnet "$SUBNET" \
  --outside --outside-subnet "$OUTNET" --pfs "$PFS"
HOSTFILE=$STATE/hostfile
on() { local n=$1; shift; timeout -k 5 120 "$TB" exec --name "$TB_NAME" "$n" "$@"; }
# ferry-run on c1 over the whole test bed, io1 serving c1..c4, port 8080
# allowed; its daemon logs to $T_DIR/logs-NAME.
FRUN_ARGS=(--hostfile "$HOSTFILE" --ratio 4 --auth none --log-level info
           --export "/pfs=$PFS" --iond-arg --listen-ports --iond-arg "$PORT")
# wait_for FILE PATTERN COUNT [PID]: until FILE has COUNT lines matching
# PATTERN (90 s; gives up early when PID, the writer, is gone).
wait_for() {
  for _ in $(seq 900); do
    [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
    [ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || break
    sleep 0.1
  done
  [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ]
}

# ---- 0. the outside is out of the compute nodes' reach ------------------------
CONNECT_PY='import socket, sys
s = socket.socket(); s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("errno", e.errno)'
"$TB" exec --name "$TB_NAME" out1 "$PY" "$TOOLS" http 8000 --bind "$OUT1" --log "$T_DIR/http.log" >"$T_DIR/http.out" 2>&1 &
check "the HTTP server on out1 is up" wait_for "$T_DIR/http.out" "listening" 1
direct=$(on c2 "$PY" -c "$CONNECT_PY" "$OUT1" 8000 || true)
echo "direct connect from c2 to out1: $direct"
check "c2 cannot connect to out1 itself (ENETUNREACH or timeout: $direct)" \
  grep -Eqx "errno 101|errno 113|timeout" <<<"$direct"
check "io1 reaches out1" test "$(on io1 "$PY" -c "$CONNECT_PY" "$OUT1" 8000)" = connected
: >"$T_DIR/http.log"

# ---- 1. compute nodes fetch from out1 through io1, by address and by name ------
"$TB" exec --name "$TB_NAME" out1 "$PY" "$TOOLS" dns 53 --bind "$OUT1" "www.outside.test=$OUT1" >"$T_DIR/dns.out" 2>&1 &
check "the DNS server on out1 is up" wait_for "$T_DIR/dns.out" "listening" 1
FETCH='r=$OMPI_COMM_WORLD_RANK h=$(hostname)
curl -sS -m 20 "http://'$OUT1':8000/curl/$h/$r" && '$PY' '$TOOLS' fetch "http://'$OUT1':8000/py/$h/$r" &&
curl -sS -m 20 "http://www.outside.test:8000/name/$h/$r" &&
'$PY' '$TOOLS' udpq '$OUT1' 53 www.outside.test'
out=$(on c1 "$FRUN" "${FRUN_ARGS[@]}" --log-dir "$T_DIR/logs-fetch" -- \
        mpirun --allow-run-as-root -np 4 --map-by node sh -c "$FETCH" 2>&1) && rc=0 || rc=$?
grep -E '^(out1 path|status|curl|udpq)' <<<"$out" || true
[ "$rc" -eq 0 ] || grep -v "^------" <<<"$out" | tail -n 30
check "the fetch job exits 0 ($rc)" test "$rc" -eq 0
echo "out1's log:"; sed 's/^/  /' "$T_DIR/http.log"
for n in 1 2 3 4; do
  check "curl on c$n fetched the page" grep -Eq "^out1 path /curl/c$n/[0-3] peer $IO1_OUT\$" <<<"$out"
  check "python3 http.client on c$n fetched the page" grep -Eq "^status 200 out1 path /py/c$n/[0-3] peer $IO1_OUT\$" <<<"$out"
  check "curl on c$n resolved www.outside.test and fetched the page" \
    grep -Eq "^out1 path /name/c$n/[0-3] peer $IO1_OUT\$" <<<"$out"
done
check "out1 served 12 requests (4 ranks: curl, python, curl by name)" test "$(grep -c '^peer ' "$T_DIR/http.log")" -eq 12
check "out1 saw io1's outside address ($IO1_OUT) as the peer of every one" \
  test "$(grep -c "^peer $IO1_OUT path /" "$T_DIR/http.log")" -eq 12
sed 's/^/  /' "$T_DIR/dns.out"
check "the name queries reached out1's DNS server from io1" \
  test "$(grep -c "query www.outside.test type 1 from $IO1_OUT: answered" "$T_DIR/dns.out")" -ge 8
check "4 queries from unconnected UDP sockets (sendto, recvfrom) were answered by out1:53" \
  test "$(grep -c "^udpq www.outside.test is $OUT1 from $OUT1:53\$" <<<"$out")" -eq 4

# ---- 2. four ranks serve port 8080 behind io1 ----------------------------------
# Each rank first binds 8081 (not allowed: EACCES) and 8080 (allowed), with
# FERRY_SOCKET_BIND=forward: a port it must have on the I/O node (in the
# default hybrid mode a refused port is bound on the rank's node only, as
# MPI's TCP transports need); then it serves.  SO_REUSEADDR as servers set it: the native half of the bind
# meets the TIME_WAIT the previous job's loopback hand-overs left on the node.
BIND_PY='import errno, socket, os
for port in (8081, '$PORT'):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("0.0.0.0", port)); r = "ok"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    print("rank", os.environ["OMPI_COMM_WORLD_RANK"], "bind", port, r, flush=True)
    s.close()'
JOB_OUT=$T_DIR/cluster.out
"$TB" exec --name "$TB_NAME" c1 "$FRUN" "${FRUN_ARGS[@]}" --log-dir "$T_DIR/logs-cluster" -- \
  mpirun --allow-run-as-root -np 4 --map-by node \
  sh -c "FERRY_SOCKET_BIND=forward $PY -c '$BIND_PY'; $HELLO $PORT; exit 0" >"$JOB_OUT" 2>&1 &
JOB=$!
if ! wait_for "$JOB_OUT" "http_hello: host c[1-4] rank [0-3] pid [0-9]* listening" 4 "$JOB"; then
  echo "the servers did not start:"; grep -v "^------" "$JOB_OUT" | tail -n 30
fi
grep '^rank [0-3] bind' "$JOB_OUT" || true
check "binding port 8081 (not allowed) gives EACCES on every rank" \
  test "$(grep -c '^rank [0-3] bind 8081 EACCES$' "$JOB_OUT")" -eq 4
check "binding port $PORT (allowed) works on every rank" \
  test "$(grep -c "^rank [0-3] bind $PORT ok\$" "$JOB_OUT")" -eq 4
check "4 ranks listen on port $PORT, one per compute node" \
  test "$(grep -o 'http_hello: host c[1-4] rank' "$JOB_OUT" | sort -u | wc -l)" -eq 4
# The forwarded bind is done before the native one: once all four print,
# all four are members of io1's listener.
load=$(on out1 "$PY" "$TOOLS" load "$IO1_OUT" "$PORT" --count 1000 --concurrency "$CONC" --timeout 3 2>&1 || true)
echo "1,000 requests from out1 to $IO1_OUT:$PORT:"; sed 's/^/  /' <<<"$load"
check "all 1,000 requests succeeded" grep -q "^requests 1000 ok 1000 failed 0$" <<<"$load"
check "every rank served some" \
  test "$(grep -Ec '^served host c[1-4] rank [0-3]: [1-9]' <<<"$load")" -eq 4

# ---- 3. a rank killed mid-way ----------------------------------------------------
victim=$(pid_on c3 http_hello || true)
check "found the rank on c3" test -n "$victim"
# Connections io1's daemon may already have handed to the victim's runtime
# (its accept credit: the listen backlog, at most 64; each runtime logs it at
# listen) plus those the client had open: what a kill may cost.
CREDIT=$(grep -o 'the I/O node accepts for it (handle [0-9]*, [0-9]* at a time)' "$JOB_OUT" |
         awk '{ n = $(NF - 3) + 0; if (n > m) m = n } END { print m + 0 }')
[ "$CREDIT" -gt 0 ] || CREDIT=64
load=$(on out1 "$PY" "$TOOLS" load "$IO1_OUT" "$PORT" --count 1000 --concurrency "$CONC" --timeout 3 \
         --kill-pid "${victim:-0}" --kill-at 300 2>&1 || true)
echo "1,000 requests, the rank on c3 killed after 300:"; sed 's/^/  /' <<<"$load"
failed=$(sed -n 's/^requests 1000 ok [0-9]* failed \([0-9]*\)$/\1/p' <<<"$load")
echo "failed requests: ${failed:-?} (bound: $CONC in flight + $CREDIT credit)"
check "the load ran to the end and the victim was killed" \
  test -n "$failed" -a -n "$(grep '^killed pid' <<<"$load")"
check "at most $((CONC + CREDIT)) requests failed (${failed:-?})" test "${failed:-99999}" -le $((CONC + CREDIT))
check "the three others served the rest" \
  test "$(grep -Ec '^served host c[124] rank [0-3]: [1-9]' <<<"$load")" -eq 3
c3_after=$(sed -n 's/^after kill host c3 rank [0-3]: \([0-9]*\)$/\1/p' <<<"$load")
check "the killed rank answered no request started after its death (${c3_after:-?})" test "${c3_after:-1}" -eq 0
# The others end on SIGTERM (exit 0; the wrappers exit 0), so the job ends.
for n in c1 c2 c4; do
  p=$(pid_on "$n" http_hello || true)
  [ -z "$p" ] || kill -TERM "$p"
done
rc=124
for _ in $(seq 300); do
  kill -0 "$JOB" 2>/dev/null || { rc=0; wait "$JOB" || rc=$?; break; }
  sleep 0.1
done
[ "$rc" -eq 0 ] || grep -v "^------" "$JOB_OUT" | tail -n 30
check "the server job ended with status 0 ($rc)" test "$rc" -eq 0
check "io1's daemon stopped cleanly" grep -q "exiting with status 0" "$T_DIR/logs-cluster/ferry-iond-io1.log"

"$TB" down --name "$TB_NAME" >/dev/null
check "the test bed is gone" test -z "$(ip netns list | grep "ferry-$TB_NAME-" || true)"
finish

#!/usr/bin/env bash
# Clustering across I/O nodes that share one address (issue 5): the test bed
# has two I/O nodes, io1 serving c1 and c2, io2 serving c3 and c4, both
# answering to one address that out1 reaches through either (an equal-cost
# multipath route hashed on ports, as a router in front of several I/O
# nodes spreads connections).  Four ranks, one per compute node, run
# http_hello on port 8080 under Ferry; out1 sends 400 requests to the shared
# address: all succeed, and every rank, behind either I/O node, served some.
source "$(dirname "$0")/lib.sh"
testbed_require mpirun python3
FRUN=$FERRY_BUILD/bin/ferry-run
HELLO=$FERRY_BUILD/bin/http_hello
TOOLS=$FERRY_SRC/tests/integration/sock_tools.py
TB=$FERRY_SRC/tests/testbed/testbed.sh
[ -x "$FRUN" ] && [ -x "$HELLO" ] || { echo "ferry-run or http_hello not built"; exit 1; }

TB_NAME=sa$$
SHARED=10.46.1.1   # the I/O nodes' common outside address
PORT=8080
export FERRY_TESTBED_DIR=$T_DIR/testbed
STATE=$FERRY_TESTBED_DIR/$TB_NAME
PFS=$T_DIR/pfs
tb_down() { "$TB" down --name "$TB_NAME" >/dev/null 2>&1; }
trap 'cleanup_with tb_down' EXIT

"$TB" up --name "$TB_NAME" --compute 4 --ionodes 2 --subnet 10.44.0 \
  --outside --outside-subnet 10.45.0 --shared-address "$SHARED" --pfs "$PFS"
on() { local n=$1; shift; timeout -k 5 120 "$TB" exec --name "$TB_NAME" "$n" "$@"; }

JOB_OUT=$T_DIR/cluster.out
"$TB" exec --name "$TB_NAME" c1 "$FRUN" --hostfile "$STATE/hostfile" --ratio 2 --auth none \
  --log-level info --export "/pfs=$PFS" --iond-arg --listen-ports --iond-arg "$PORT" \
  --log-dir "$T_DIR/logs" -- mpirun --allow-run-as-root -np 4 --map-by node \
  sh -c "$HELLO $PORT; exit 0" >"$JOB_OUT" 2>&1 &
JOB=$!
for _ in $(seq 900); do
  [ "$(grep -c 'http_hello: host c[1-4] rank [0-3] pid [0-9]* listening' "$JOB_OUT")" -ge 4 ] && break
  kill -0 "$JOB" 2>/dev/null || break
  sleep 0.1
done
check "4 ranks listen on port $PORT, one per compute node" \
  test "$(grep -o 'http_hello: host c[1-4] rank' "$JOB_OUT" | sort -u | wc -l)" -eq 4
check "each I/O node's daemon listens on port $PORT for its two ranks" \
  bash -c 'for n in io1 io2; do ip netns exec "ferry-$1-$n" ss -tlnH "( sport = :$2 )" | grep -q . || exit 1; done' \
  sh "$TB_NAME" "$PORT"

load=$(on out1 "$PY" "$TOOLS" load "$SHARED" "$PORT" --count 400 --concurrency 8 --timeout 5 2>&1 || true)
echo "400 requests from out1 to $SHARED:$PORT:"; sed 's/^/  /' <<<"$load"
check "all 400 requests to the shared address succeeded" \
  grep -q "^requests 400 ok 400 failed 0$" <<<"$load"
check "every rank served some, behind io1 (c1, c2) and behind io2 (c3, c4)" \
  test "$(grep -Ec '^served host c[1-4] rank [0-3]: [1-9]' <<<"$load")" -eq 4

for n in c1 c2 c3 c4; do
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

"$TB" down --name "$TB_NAME" >/dev/null
check "the test bed is gone" test -z "$(ip netns list | grep "ferry-$TB_NAME-" || true)"
finish

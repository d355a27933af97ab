#!/usr/bin/env bash
# ferry-iond's command line: --help and --version work; usage errors exit 2
# with a message naming the culprit; a missing export directory fails with
# a clear error and status 1; FERRY_LISTEN/FERRY_EXPORTS and a config file
# start it as flags do, flags winning over both.
set -euo pipefail
: "${FERRY_BUILD:?set FERRY_BUILD to the build tree}"
IOND=$FERRY_BUILD/bin/ferry-iond
DIR=$(mktemp -d "${TMPDIR:-/tmp}/iond-cli.XXXXXX")
PID=
cleanup() {
  if [ -n "$PID" ]; then kill -KILL "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR/export" "$DIR/other"
fail() { echo "FAIL: $*"; exit 1; }

# expect STATUS PATTERN -- command...: the status and a line of its output.
expect() {
  local want=$1 pattern=$2 got=0
  shift 3
  timeout 20 "$@" >"$DIR/out" 2>&1 || got=$?
  [ "$got" -eq "$want" ] || { cat "$DIR/out"; fail "$* exited $got, want $want"; }
  grep -q -- "$pattern" "$DIR/out" || { cat "$DIR/out"; fail "$*: no '$pattern' in its output"; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_daemon ARGS...: run it in the background until its ready file shows.
start_daemon() {
  rm -f "$DIR/ready"
  "$IOND" --ready-file "$DIR/ready" "$@" >"$DIR/stdout" 2>"$DIR/log" &
  PID=$!
  for _ in $(seq 150); do
    [ -e "$DIR/ready" ] && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$DIR/log"; fail "ferry-iond $* died"; }
    sleep 0.1
  done
  fail "ferry-iond $* not ready"
}
stop_daemon() {
  kill -TERM "$PID"
  local rc=0
  wait "$PID" || rc=$?
  PID=
  [ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
}

expect 0 "usage: ferry-iond" -- "$IOND" --help
expect 0 "ferry-iond 0" -- "$IOND" --version
expect 2 "unknown option '--bogus'" -- "$IOND" --bogus
expect 2 "no address to listen on" -- env -u FERRY_LISTEN "$IOND" --export "/pfs=$DIR/export"
expect 2 "nothing to export" -- "$IOND" --listen tcp://127.0.0.1:1
expect 2 "option '--workers' needs a value" -- "$IOND" --workers
expect 2 "invalid value 'lots' for workers" -- "$IOND" --listen tcp://127.0.0.1:1 \
  --export "/pfs=$DIR/export" --workers lots
expect 2 "--auth kerberos: not supported (this build knows: munge, none)" -- "$IOND" \
  --listen tcp://127.0.0.1:1 --export "/pfs=$DIR/export" --auth kerberos
expect 2 "listen address bogus://x" -- "$IOND" --listen bogus://x --export "/pfs=$DIR/export"
expect 2 "export pfs=$DIR/export: expected PREFIX=DIR" -- "$IOND" --listen tcp://127.0.0.1:1 \
  --export "pfs=$DIR/export"
expect 1 "ferry-iond: export /pfs=$DIR/none: No such file or directory" -- \
  "$IOND" --listen tcp://127.0.0.1:1 --export "/pfs=$DIR/none"
expect 1 "config $DIR/missing.conf: No such file or directory" -- \
  "$IOND" --config "$DIR/missing.conf"
printf '[ionode]\nlisten = tcp://127.0.0.1:1\nbogus = 1\n' >"$DIR/bad.conf"
expect 2 "$DIR/bad.conf: unknown setting 'bogus'" -- "$IOND" --config "$DIR/bad.conf"

# The environment alone.
port=$(free_port)
FERRY_LISTEN=tcp://127.0.0.1:$port FERRY_EXPORTS="/pfs=$DIR/export,/other=$DIR/other" \
  start_daemon
grep -q "^ferry-iond ready: listening on tcp://127.0.0.1:$port (tcp;ofi_rxm), exports /pfs=$DIR/export, /other=$DIR/other, [0-9]* workers, auth none$" \
  "$DIR/ready" || { cat "$DIR/ready"; fail "ready line from the environment"; }
cmp -s "$DIR/ready" "$DIR/stdout" || fail "stdout and the ready file differ"
grep -q "WARN .*authentication disabled" "$DIR/log" || fail "no warning about auth none"
stop_daemon

# A config file, with the flag overriding its workers and the environment
# overriding its exports.
port=$(free_port)
printf '[ionode]\nlisten = tcp://127.0.0.1:%s\nexport = /cfg=%s\nworkers = 3\n[other]\nx = 1\n' \
  "$port" "$DIR/export" >"$DIR/ferry.conf"
FERRY_EXPORTS="/env=$DIR/other" start_daemon --config "$DIR/ferry.conf" --workers 2
grep -q "exports /env=$DIR/other, 2 workers" "$DIR/ready" || { cat "$DIR/ready"; fail "layering"; }
stop_daemon

# [sockets]: flags and config section; malformed lists and unknown keys are
# usage errors naming the culprit.
expect 0 "--listen-ports LIST" -- "$IOND" --help
expect 2 "invalid value '80-70' for listen_ports" -- "$IOND" --listen tcp://127.0.0.1:1 \
  --export "/pfs=$DIR/export" --listen-ports 80-70
expect 2 "invalid value '10.0.0.0/33' for socket_connect" -- "$IOND" --listen tcp://127.0.0.1:1 \
  --export "/pfs=$DIR/export" --socket-connect 10.0.0.0/33
printf '[sockets]\nbogus = 1\n' >"$DIR/bad-sockets.conf"
expect 2 "unknown setting 'bogus' in \[sockets\]" -- "$IOND" --config "$DIR/bad-sockets.conf"
printf '[ionode]\nlisten = tcp://127.0.0.1:0\nexport = /pfs=%s\n[sockets]\nlisten_ports = 8080 9000-9099\nconnect = 10.0.0.0/8\n' \
  "$DIR/export" >"$DIR/sockets.conf"
start_daemon --config "$DIR/sockets.conf"
grep -q "sockets: enabled; listen ports: 8080 9000-9099; connect: 10.0.0.0/8" "$DIR/log" ||
  { cat "$DIR/log"; fail "[sockets] not applied"; }
stop_daemon
start_daemon --config "$DIR/sockets.conf" --no-sockets
grep -q "sockets: disabled" "$DIR/log" || { cat "$DIR/log"; fail "--no-sockets"; }
stop_daemon

echo "PASS ferry-iond command line"

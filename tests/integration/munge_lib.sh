# shellcheck shell=bash
# Helpers to run a private, real munged for a test: its own key, socket, pid,
# log and seed files in a directory the test owns, so tests never touch (or
# need) a system munged.  Source after lib.sh (or alone); the EXIT trap already
# installed is chained, so munged is stopped whatever way the test ends.
#
#   start_munged DIR [munged args]  start munged with its files under DIR and
#                                   wait until it answers; exports
#                                   MUNGE_SOCKET (also FERRY_MUNGE_SOCKET, so
#                                   the runtime and ferry-iond use it), sets
#                                   MUNGED_PID, MUNGED_DIR, MUNGE_KEY
#   restart_munged                  stop it and start it again with the same
#                                   key and socket (it forgets the credentials
#                                   it decoded)
#   stop_munged                     stop it and remove its files
#
# MUNGE_KEY may be set before start_munged to reuse a key (two daemons that
# must accept each other's credentials); otherwise a new random key is made.

MUNGED_BIN=${MUNGED_BIN:-/usr/sbin/munged}
MUNGED_PID=
MUNGED_DIR=

start_munged() {
  local dir=$1; shift
  if [ -n "$MUNGED_PID" ]; then
    echo "start_munged: a munged (pid $MUNGED_PID) is already running; stop_munged first" >&2
    return 1
  fi
  command -v "$MUNGED_BIN" >/dev/null || { echo "start_munged: $MUNGED_BIN not found (apt-get install munge)" >&2; return 1; }
  # munged refuses directories writable by others, and a socket that not
  # every user can reach: DIR is made 0755 and its parent (typically the
  # test's private mktemp directory, if we own it) searchable by all.
  mkdir -p "$dir"
  chmod 0755 "$dir"
  MUNGED_DIR=$(cd "$dir" && pwd)
  local parent
  parent=$(dirname "$MUNGED_DIR")
  if [ -O "$parent" ]; then chmod go+x "$parent"; fi
  local key=${MUNGE_KEY:-$MUNGED_DIR/munge.key}
  if [ ! -s "$key" ]; then
    /usr/sbin/mungekey --create --keyfile="$key" || return 1
  fi
  chmod 0600 "$key"
  MUNGE_KEY=$key
  export MUNGE_SOCKET=$MUNGED_DIR/munge.sock
  export FERRY_MUNGE_SOCKET=$MUNGE_SOCKET
  # Foreground (-F) so that its pid is ours to wait on; it logs to stderr.
  "$MUNGED_BIN" -F --socket="$MUNGE_SOCKET" --key-file="$key" \
    --pid-file="$MUNGED_DIR/munged.pid" --seed-file="$MUNGED_DIR/munged.seed" \
    --log-file="$MUNGED_DIR/munged.log" "$@" >>"$MUNGED_DIR/munged.log" 2>&1 &
  MUNGED_PID=$!
  for _ in $(seq 100); do
    if [ -S "$MUNGE_SOCKET" ] &&
       munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$MUNGED_PID" 2>/dev/null; then
      echo "start_munged: munged exited before answering:" >&2
      cat "$MUNGED_DIR/munged.log" >&2
      MUNGED_PID=
      return 1
    fi
    sleep 0.1
  done
  echo "start_munged: munged on $MUNGE_SOCKET not answering after 10 s" >&2
  cat "$MUNGED_DIR/munged.log" >&2
  stop_munged
  return 1
}

_munged_kill() {
  if [ -n "$MUNGED_PID" ]; then
    kill -TERM "$MUNGED_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$MUNGED_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$MUNGED_PID" 2>/dev/null || true
    wait "$MUNGED_PID" 2>/dev/null || true
    MUNGED_PID=
  fi
}

restart_munged() {
  [ -n "$MUNGED_DIR" ] || { echo "restart_munged: no munged started" >&2; return 1; }
  _munged_kill
  rm -f "$MUNGED_DIR/munge.sock" "$MUNGED_DIR/munge.sock.lock" "$MUNGED_DIR/munged.pid"
  start_munged "$MUNGED_DIR"
}

stop_munged() {
  _munged_kill
  if [ -n "$MUNGED_DIR" ]; then
    rm -f "$MUNGED_DIR/munge.sock" "$MUNGED_DIR/munge.sock.lock" \
      "$MUNGED_DIR/munged.pid" "$MUNGED_DIR/munged.seed" "$MUNGED_DIR/munged.log"
    # The key only if we made it there.
    [ "$MUNGE_KEY" != "$MUNGED_DIR/munge.key" ] || rm -f "$MUNGE_KEY"
    MUNGED_DIR=
  fi
  return 0
}

# Chain the EXIT trap: stop munged, then run whatever was installed before
# (lib.sh's cleanup, which reads $? and exits with it) with the exit status
# the shell was leaving with.
_munge_prev_exit_trap=
eval "_munge_prev_exit_trap=$(trap -p EXIT | sed -e 's/^trap -- //' -e 's/ EXIT$//')"
_munge_exit() {
  local rc=$?
  set +e   # the shell is leaving anyway; (exit rc) below must not end it
  stop_munged
  if [ -n "$_munge_prev_exit_trap" ]; then
    (exit "$rc")
    eval "$_munge_prev_exit_trap"
  fi
  exit "$rc"
}
trap _munge_exit EXIT

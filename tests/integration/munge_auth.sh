#!/usr/bin/env bash
# MUNGE authentication of sessions, with a real munged (munge_lib.sh).
#   munge_auth.sh tcp|shm daemon   the protocol cases (iond_auth.c): valid,
#                                  replayed, missing, random, other key's,
#                                  foreign payload, other job or pid, other
#                                  uid claimed, expired
#   munge_auth.sh tcp|shm e2e      programs under ferry-exec: a session bound
#                                  to the job's uid and job id; no credential
#                                  refused with a clear error on both sides;
#                                  the daemon's munged down; a daemon running
#                                  as a user refuses another user (tcp only:
#                                  it adds a user); --auth none still works
#                                  and warns
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/munge_lib.sh"
PROV=${1:?usage: munge_auth.sh tcp|shm daemon|e2e}
MODE=${2:?usage: munge_auth.sh tcp|shm daemon|e2e}

if [ "$MODE" = daemon ]; then
  # A credential from another munged, with another key: well formed, with a
  # Ferry payload, but no munged of ours can decode it.
  start_munged "$T_DIR/other-munge"
  munge -S "$MUNGE_SOCKET" -s "ferry-session-v1 job=4242 pid=1" -o "$T_DIR/forged.cred"
  stop_munged
  unset MUNGE_KEY
  start_munged "$T_DIR/munge"
  if FORGED_CRED=$T_DIR/forged.cred timeout -k 5 120 "$FERRY_BUILD/tests/iond_auth" "$PROV"; then
    ok "iond_auth $PROV"
  else
    fail "iond_auth $PROV"
  fi

  # munged forgets the credentials it decoded when it restarts; the daemon
  # does not.
  start_iond "$PROV" --auth munge
  munge -S "$MUNGE_SOCKET" -s "ferry-session-v1 job=4245 pid=12345" -o "$T_DIR/once.cred"
  check "a credential opens a session" \
    "$FERRY_BUILD/tests/iond_auth" send "$IONODE_URI" "$T_DIR/once.cred" 12345 4245 ok
  restart_munged
  check "after munged restarted, the same credential is refused" \
    "$FERRY_BUILD/tests/iond_auth" send "$IONODE_URI" "$T_DIR/once.cred" 12345 4245 EKEYREJECTED
  check "as already used with this daemon" \
    grep -q "replayed credential (already used with this daemon)" "$IOND_LOG"
  check "a new credential is accepted" \
    sh -c 'munge -S "$MUNGE_SOCKET" -s "ferry-session-v1 job=4245 pid=12345" -o "$1" &&
      "$FERRY_BUILD/tests/iond_auth" send "$2" "$1" 12345 4245 ok' sh "$T_DIR/new.cred" "$IONODE_URI"
  stop_iond
  finish
  exit
fi

start_munged "$T_DIR/munge"
echo "written through ferry" >"$LOCAL/expected"

# 1. A program under ferry-exec opens a session bound to its uid and job.
start_iond "$PROV" --auth munge
check "start-up line names the munged socket" \
  grep -q "auth munge: sessions are checked with munged on $MUNGE_SOCKET" "$IOND_LOG"
check "a job's program reads and writes through an authenticated session" \
  env FERRY_JOB_ID=4243 "$FEXEC" --ionode "$IONODE_URI" --mount /pfs -- \
  sh -c 'echo "written through ferry" > /pfs/out && cat /pfs/out > '"$T_DIR/back"
check "the data arrived" cmp -s "$LOCAL/expected" "$EXPORT/out"
check "and came back" cmp -s "$LOCAL/expected" "$T_DIR/back"
check "the daemon bound the session to uid $(id -u) gid $(id -g) and job 4243" \
  grep -Eq "job=4243 session opened: pid [0-9]+ uid $(id -u) gid $(id -g) " "$IOND_LOG"

# A fork child that does forwarded I/O without exec reopens its own session,
# with a credential for its own pid.
fork_child() {
  FERRY_JOB_ID=4244 fx python3 -c '
import os, sys
pid = os.fork()
if pid == 0:
    with open("/pfs/out") as f:
        os._exit(0 if f.read() == "written through ferry\n" else 1)
_, st = os.waitpid(pid, 0)
print(pid)
sys.exit(os.waitstatus_to_exitcode(st))' >"$T_DIR/child.pid"
}
check "a fork child opens its own authenticated session" fork_child
check "the daemon bound the child's session to its pid and the job" \
  grep -Eq "job=4244 session opened: pid $(cat "$T_DIR/child.pid") uid $(id -u) " "$IOND_LOG"

# Making the credential leaves nothing behind in the program: the same
# descriptors and signal dispositions as without one.
# (The shell's own: its redirection from /pfs opens its session.)
probe='read -r x </pfs/out; ls /proc/$$/fd | wc -l; grep -E "^Sig(Ign|Cgt)" /proc/$$/status'
stop_iond
start_iond "$PROV" --auth none
FERRY_AUTH=none fx sh -c "$probe" >"$T_DIR/probe.none"
stop_iond
start_iond "$PROV" --auth munge
fx sh -c "$probe" >"$T_DIR/probe.munge"
check "no descriptor or signal disposition left by the credential" \
  cmp "$T_DIR/probe.none" "$T_DIR/probe.munge"

# 2. No credential (FERRY_AUTH=none): refused; both sides say why.
if FERRY_AUTH=none fx cat /pfs/out >/dev/null 2>"$T_DIR/none.err"; then
  fail "a session without a credential is refused"
else
  ok "a session without a credential is refused"
fi
check "the runtime names the I/O node and the reason" \
  grep -q "I/O node $IONODE_URI refused the session: Required key not available" "$T_DIR/none.err"
check "the daemon logs the refusal with its reason" \
  grep -q "WARN .*session refused .*: Required key not available: no credential" "$IOND_LOG"

# 3. The runtime insists (FERRY_AUTH=munge) but its munged is not there.
# FERRY_CONNECT=start: the session opens before main, so even a program
# that forwards nothing fails.
if FERRY_CONNECT=start FERRY_AUTH=munge FERRY_MUNGE_SOCKET=$T_DIR/no-munged.sock fx true 2>"$T_DIR/nomunge.err"; then
  fail "FERRY_AUTH=munge without a munged fails"
else
  ok "FERRY_AUTH=munge without a munged fails"
fi
check "and says it cannot make a credential" \
  grep -q "cannot make a MUNGE credential (munged on $T_DIR/no-munged.sock)" "$T_DIR/nomunge.err"
check "the daemon is still serving" fx cat /pfs/out
stop_iond

# 4. The daemon's munged unreachable: refused (EAGAIN), and said at start-up.
start_iond "$PROV" --auth munge --munge-socket "$T_DIR/no-munged.sock"
check "start-up warns that munged does not work" grep -q "WARN .*munged on $T_DIR/no-munged.sock does not work now" "$IOND_LOG"
if fx cat /pfs/out 2>"$T_DIR/unreach.err"; then
  fail "a session is refused while the daemon's munged is unreachable"
else
  ok "a session is refused while the daemon's munged is unreachable"
fi
check "the daemon logs munged unreachable" \
  grep -q "session refused .*Resource temporarily unavailable: munged unreachable on $T_DIR/no-munged.sock" "$IOND_LOG"
stop_iond

# allow_users: a root daemon serving only some users.
start_iond "$PROV" --auth munge --allow-users 12345
if fx cat /pfs/out 2>/dev/null; then
  fail "a user not in --allow-users is refused"
else
  ok "a user not in --allow-users is refused"
fi
check "the daemon logs the user not allowed" \
  grep -q "session refused .*: user not allowed: credential of uid $(id -u), not in allow_users" "$IOND_LOG"
stop_iond
start_iond "$PROV" --auth munge --allow-users "nobody,$(id -un)"
check "a user in --allow-users is served" fx cat /pfs/out
stop_iond
if "$IOND" --listen tcp://127.0.0.1:0 --export "/pfs=$EXPORT" --auth munge \
    --allow-users no-such-user-ferry >/dev/null 2>"$T_DIR/allow.err"; then
  fail "an unknown user in --allow-users is a usage error"
else
  check "an unknown user in --allow-users is a usage error" \
    grep -q "allow_users: no user 'no-such-user-ferry'" "$T_DIR/allow.err"
fi

# 5. A daemon running as a user serves only that user (tcp: the check is
# the same on every transport, and it adds a system user).
TUSER=ferrytest-auth
made_user=0
UPID=
auth_cleanup() {
  if [ -n "$UPID" ]; then kill -TERM "$UPID" 2>/dev/null || true; wait "$UPID" 2>/dev/null || true; fi
  if [ "$made_user" = 1 ]; then userdel "$TUSER" 2>/dev/null || true; fi
}
_auth_exit() {
  local rc=$?
  set +e
  auth_cleanup
  (exit "$rc")
  _munge_exit
}
trap _auth_exit EXIT

if [ "$PROV" = tcp ] && [ "$(id -u)" = 0 ]; then
  if ! id "$TUSER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$TUSER"
    made_user=1
  fi
  # The user's copy of the programs: the build tree may not be theirs to read.
  U=$T_DIR/user
  mkdir -p "$U/bin" "$U/lib" "$U/export"
  install -m 0755 "$IOND" "$FEXEC" "$U/bin/"
  install -m 0755 "$FERRY_BUILD/lib/libferry.so" "$U/lib/"
  echo "the user's file" >"$U/export/mine"
  chown -R "$TUSER:" "$U"
  chmod go+x "$T_DIR"
  as_user=(setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups --)
  uri="tcp://127.0.0.1:$(free_tcp_port)"
  "${as_user[@]}" "$U/bin/ferry-iond" --listen "$uri" --export "/pfs=$U/export" --ready-file "$U/ready" \
    --auth munge >"$T_DIR/user-iond.log" 2>&1 &
  UPID=$!
  for _ in $(seq 300); do [ -s "$U/ready" ] && break; kill -0 "$UPID" || break; sleep 0.1; done
  check "the user's daemon is ready" test -s "$U/ready"
  check "the user's daemon says it serves only its uid" \
    grep -q "only this daemon's own uid is served" "$T_DIR/user-iond.log"
  "${as_user[@]}" timeout -k 5 60 "$U/bin/ferry-exec" --ionode "$uri" --mount /pfs -- \
    cat /pfs/mine >"$T_DIR/user.out" 2>"$T_DIR/user.err" || true
  check "the user's own session is accepted" \
    grep -q "session opened: pid [0-9]* uid $(id -u "$TUSER") gid $(id -g "$TUSER") " "$T_DIR/user-iond.log"
  # (The runtime's placeholder descriptors are /dev/null opened read-write:
  # some containers do not let a user do that.)
  if "${as_user[@]}" sh -c ': <>/dev/null' 2>/dev/null; then
    check "the user's own program reads its file" grep -qx "the user's file" "$T_DIR/user.out"
  else
    echo "skip - the user's own program reads its file: /dev/null is not writable by $TUSER here"
  fi
  if timeout -k 5 60 "$FEXEC" --ionode "$uri" --mount /pfs -- cat /pfs/mine >/dev/null 2>"$T_DIR/wrong.err"; then
    fail "another user (root) is refused by the user's daemon"
  else
    ok "another user (root) is refused by the user's daemon"
  fi
  check "the runtime says the I/O node refused it" \
    grep -q "I/O node $uri refused the session: Key was rejected by service" "$T_DIR/wrong.err"
  check "the daemon logs the wrong user" \
    grep -q "WARN .*wrong user: credential of uid 0, this daemon serves only uid $(id -u "$TUSER")" \
    "$T_DIR/user-iond.log"
  kill -TERM "$UPID"
  check "the user's daemon exits cleanly" wait "$UPID"
  UPID=
  if [ "$T_FAIL" -ne 0 ]; then echo "---- the user's daemon log ----"; cat "$T_DIR/user-iond.log"; fi
fi

# 6. --auth none still works, with munged running or not, and warns.
start_iond "$PROV" --auth none
check "--auth none warns at start-up" \
  grep -q "WARN .*authentication disabled: any local or remote process can act as any user" "$IOND_LOG"
check "--auth none serves a client with a credential" fx cat /pfs/out
check "--auth none serves a client without one" env FERRY_AUTH=none "$FEXEC" --ionode "$IONODE_URI" --mount /pfs -- cat /pfs/out
stop_iond
finish

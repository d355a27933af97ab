#!/usr/bin/env bash
# The test bed's remote shell, as mpirun's plm_rsh_agent: "agent.sh [OPTIONS]
# HOST COMMAND..." runs COMMAND (joined with spaces and given to sh, as ssh
# does) on test-bed node HOST: in its network and UTS namespaces with its
# /etc/hosts, in a session of its own, with a login-like environment (as sshd
# gives), not the caller's.
set -euo pipefail
: "${FERRY_TESTBED_STATE:?agent.sh runs inside a test bed (testbed.sh exec)}"
# ssh-style options before the host (OpenMPI may pass some, e.g. -x).
while [ $# -gt 0 ]; do
  case $1 in
    -l|-p|-o|-i|-F) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "agent.sh: no host" >&2; exit 255; }
host=$1; shift
node=$(awk -v h="$host" '$1 == h || $2 == h {print $1; exit}' "$FERRY_TESTBED_STATE/nodes")
[ -n "$node" ] || { echo "agent.sh: $host is not a node of test bed $FERRY_TESTBED" >&2; exit 255; }
name=$(basename "$FERRY_TESTBED_STATE")
keep=(PATH="$PATH" HOME="${HOME:-/root}" USER="${USER:-$(id -un)}" LOGNAME="${LOGNAME:-$(id -un)}"
      SHELL=/bin/sh FERRY_TESTBED="$FERRY_TESTBED" FERRY_TESTBED_STATE="$FERRY_TESTBED_STATE"
      FERRY_TESTBED_HOSTFILE="$FERRY_TESTBED_HOSTFILE" FERRY_TESTBED_PFS="$FERRY_TESTBED_PFS")
[ -n "${LD_LIBRARY_PATH:-}" ] && keep+=(LD_LIBRARY_PATH="$LD_LIBRARY_PATH")
[ -n "${TMPDIR:-}" ] && keep+=(TMPDIR="$TMPDIR")
# As sshd: a new session; then the node's namespaces (testbed.sh's way).
exec setsid --wait nsenter --net="/run/netns/ferry-$name-$node" --uts="$FERRY_TESTBED_STATE/uts/$node" -- \
  unshare --mount --propagation private -- "$(dirname "$0")/testbed.sh" _inside "$FERRY_TESTBED_STATE" \
  env -i "${keep[@]}" /bin/sh -c "$*"

#!/usr/bin/env bash
# A multi-node cluster on one machine: each node a network namespace with its
# own address (a veth to a bridge in a "switch" namespace) and its own
# hostname (a UTS namespace), /etc/hosts naming every node, and an rsh agent
# through which mpirun starts its daemons on the other nodes.  See
# docs/testbed.md.  Needs root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${FERRY_TESTBED_DIR:-/run/ferry-testbed}

usage() {
  cat <<'USAGE'
usage: testbed.sh up [--compute N] [--ionodes M] [--name NAME] [--subnet A.B.C] [--slots S] [--pfs DIR]
                     [--outside [--outside-subnet A.B.C] [--shared-address A.B.C.D]]
       testbed.sh down [--name NAME]
       testbed.sh exec [--name NAME] NODE CMD [ARGS...]
       testbed.sh status [--name NAME]
       testbed.sh env [--name NAME]
A test bed of N compute nodes (c1..cN, A.B.C.101..) and M I/O nodes
(io1..ioM, A.B.C.11..), each a network namespace "ferry-NAME-NODE" with its
own hostname and /etc/hosts, on a bridge in the namespace "ferry-NAME-sw".
  up       create it (--compute 4, --ionodes 2, --name ferry, --subnet 10.9.0,
           --slots 2 per compute node, --pfs: the directory the I/O nodes
           export, default STATE/pfs); fails if NAME exists.  --outside: also
           a host out1 (A.B.C.1 of --outside-subnet, default 10.19.0) on a
           second bridge that only the I/O nodes reach (their eth1, A.B.C.11..);
           compute nodes have no route to it.  --shared-address: every
           I/O node also answers to A.B.C.D (on its loopback), which out1
           reaches through all of them at once (an equal-cost multipath
           route hashed on ports: each connection goes to one I/O node), as
           I/O nodes behind one network identity
  down     remove everything of NAME: processes still in its nodes, namespaces,
           veths, bridge, state (idempotent)
  exec     run CMD on NODE (its network, hostname and /etc/hosts), with the
           OpenMPI settings that make mpirun span the nodes
  status   nodes, addresses and processes
  env      print those OpenMPI settings as shell exports
State: $FERRY_TESTBED_DIR/NAME (default /run/ferry-testbed/NAME): nodes,
hosts, hostfile (I/O nodes first, then compute nodes with slots=S), pfs/;
with --outside also outside-subnet, the address of each node on it in
nodes (a fourth column; out1's role is "outside", not in the hostfile) and
resolv.conf (nameserver out1, bound over /etc/resolv.conf on every node).
USAGE
}

die() { echo "testbed: $*" >&2; exit 1; }

NAME=ferry
parse_name() {
  # Leaves the other arguments in ARGS.
  ARGS=()
  while [ $# -gt 0 ]; do
    case $1 in
      --name) NAME=${2:?--name needs a value}; shift 2 ;;
      --name=*) NAME=${1#--name=}; shift ;;
      *) ARGS+=("$1"); shift ;;
    esac
  done
  [[ $NAME =~ ^[A-Za-z0-9_-]{1,24}$ ]] || die "--name $NAME: letters, digits, - and _ (at most 24)"
  STATE=$ROOT/$NAME
  SW=ferry-$NAME-sw
}

ns_of() { echo "ferry-$NAME-$1"; }

need_root() { [ "$(id -u)" -eq 0 ] || die "needs root (namespaces, veths, a bridge)"; }

# node_exists NODE: is NODE in this test bed?
node_line() { awk -v n="$1" '$1 == n' "$STATE/nodes" 2>/dev/null; }

cmd_up() {
  local ncompute=4 nion=2 subnet=10.9.0 slots=2 pfs= outside=0 osubnet=10.19.0 shared=
  while [ $# -gt 0 ]; do
    case $1 in
      --compute) ncompute=$2; shift 2 ;;
      --ionodes) nion=$2; shift 2 ;;
      --subnet) subnet=$2; shift 2 ;;
      --slots) slots=$2; shift 2 ;;
      --pfs) pfs=$2; shift 2 ;;
      --outside) outside=1; shift ;;
      --outside-subnet) osubnet=$2; shift 2 ;;
      --shared-address) shared=$2; shift 2 ;;
      --help|-h) usage; exit 0 ;;
      *) die "up: unknown option $1" ;;
    esac
  done
  [[ $ncompute =~ ^[0-9]+$ && $ncompute -ge 1 && $ncompute -le 89 ]] || die "--compute: 1 to 89"
  [[ $nion =~ ^[0-9]+$ && $nion -ge 0 && $nion -le 89 ]] || die "--ionodes: 0 to 89"
  [[ $slots =~ ^[0-9]+$ && $slots -ge 1 ]] || die "--slots: a positive number"
  [[ $subnet =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--subnet: three octets, e.g. 10.9.0"
  [[ $osubnet =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--outside-subnet: three octets, e.g. 10.19.0"
  [ "$outside" = 0 ] || [ "$osubnet" != "$subnet" ] || die "--outside-subnet must differ from --subnet"
  [ "$outside" = 0 ] || [ "$nion" -ge 1 ] || die "--outside needs an I/O node to reach it"
  [ -z "$shared" ] || [ "$outside" = 1 ] || die "--shared-address needs --outside"
  [ -z "$shared" ] || [[ $shared =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    die "--shared-address: an IPv4 address, e.g. 10.19.1.1"
  need_root
  [ -e "$STATE" ] && die "test bed $NAME exists ($STATE); 'testbed.sh down --name $NAME' first"
  command -v nsenter >/dev/null && command -v unshare >/dev/null || die "needs nsenter and unshare (util-linux)"
  mkdir -p "$STATE/uts"
  # From here on, a failure leaves nothing behind.
  trap 'echo "testbed: up failed; removing $NAME" >&2; cmd_down >/dev/null 2>&1 || true' ERR
  [ -n "$pfs" ] || pfs=$STATE/pfs
  mkdir -p "$pfs"
  pfs=$(cd "$pfs" && pwd)
  echo "$pfs" >"$STATE/pfs-dir"
  echo "$subnet.0/24" >"$STATE/subnet"

  local nodes=() ips=() roles=() i
  for ((i = 1; i <= nion; i++)); do nodes+=("io$i"); ips+=("$subnet.$((10 + i))"); roles+=(ionode); done
  for ((i = 1; i <= ncompute; i++)); do nodes+=("c$i"); ips+=("$subnet.$((100 + i))"); roles+=(compute); done

  ip netns add "$SW"
  ip -n "$SW" link set lo up
  ip -n "$SW" link add br0 type bridge
  ip -n "$SW" link set br0 up
  if [ "$outside" = 1 ]; then
    ip -n "$SW" link add br1 type bridge
    ip -n "$SW" link set br1 up
  fi

  : >"$STATE/nodes"
  : >"$STATE/hostfile"
  # Every node's /etc/hosts (bound over it on the node, see enter_node).
  {
    echo "127.0.0.1 localhost"
    for i in "${!nodes[@]}"; do echo "${ips[$i]} ${nodes[$i]}"; done
    # The outside host by name: a name is no route, compute nodes still
    # reach it only through Ferry.
    [ "$outside" = 0 ] || echo "$osubnet.1 out1"
  } >"$STATE/hosts"
  for i in "${!nodes[@]}"; do
    local n=${nodes[$i]} ns
    ns=$(ns_of "$n")
    ip netns add "$ns"
    ip -n "$SW" link add "$n" type veth peer name eth0 netns "$ns"
    ip -n "$SW" link set "$n" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "${ips[$i]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    # A persistent UTS namespace, bound to a file: no process holds it.
    touch "$STATE/uts/$n"
    unshare --uts="$STATE/uts/$n" hostname "$n"
    # No forwarding anywhere: an I/O node with two networks must not route
    # between them (a new namespace may inherit ip_forward=1 from the machine).
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 >/dev/null
    local oip=
    if [ "$outside" = 1 ] && [ "${roles[$i]}" = ionode ]; then
      oip=$osubnet.$((10 + i + 1))
      ip -n "$SW" link add "o-$n" type veth peer name eth1 netns "$ns"
      ip -n "$SW" link set "o-$n" master br1 up
      ip -n "$ns" addr add "$oip/24" dev eth1
      ip -n "$ns" link set eth1 up
      [ -z "$shared" ] || ip -n "$ns" addr add "$shared/32" dev lo
    fi
    echo "$n ${ips[$i]} ${roles[$i]}${oip:+ $oip}" >>"$STATE/nodes"
    if [ "${roles[$i]}" = ionode ]; then
      echo "$n slots=1" >>"$STATE/hostfile"
    else
      echo "$n slots=$slots" >>"$STATE/hostfile"
    fi
  done
  if [ "$outside" = 1 ]; then
    # The outside host: on br1 only, no default route, so it cannot answer
    # the compute nodes' network either.
    local ons
    ons=$(ns_of out1)
    ip netns add "$ons"
    ip -n "$SW" link add out1 type veth peer name eth0 netns "$ons"
    ip -n "$SW" link set out1 master br1 up
    ip -n "$ons" link set lo up
    ip -n "$ons" addr add "$osubnet.1/24" dev eth0
    ip -n "$ons" link set eth0 up
    ip netns exec "$ons" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 >/dev/null
    touch "$STATE/uts/out1"
    unshare --uts="$STATE/uts/out1" hostname out1
    echo "out1 $osubnet.1 outside $osubnet.1" >>"$STATE/nodes"
    echo "$osubnet.0/24" >"$STATE/outside-subnet"
    # Name service is outside too: every node asks out1 (bound over
    # /etc/resolv.conf like hosts); nothing answers unless a test starts a
    # DNS server there.  /etc/hosts still names the nodes first.
    printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$osubnet.1" >"$STATE/resolv.conf"
    if [ -n "$shared" ]; then
      local hops=()
      for ((i = 1; i <= nion; i++)); do hops+=(nexthop via "$osubnet.$((10 + i))"); done
      ip netns exec "$ons" sysctl -qw net.ipv4.fib_multipath_hash_policy=1 >/dev/null
      ip -n "$ons" route add "$shared/32" "${hops[@]}"
      echo "$shared" >"$STATE/shared-address"
    fi
  fi
  trap - ERR
  echo "test bed $NAME up: $ncompute compute nodes, $nion I/O nodes on $subnet.0/24; PFS $pfs"
  [ "$outside" = 0 ] || echo "  outside host out1 at $osubnet.1, reached by the I/O nodes' eth1 ($osubnet.11..)"
  [ -z "$shared" ] || echo "  the I/O nodes share $shared: out1 reaches it through each of them"
  echo "  run on a node:  $0 exec --name $NAME c1 CMD...   (hostfile: $STATE/hostfile)"
}

# The environment every command run on a node gets: mpirun launches its
# daemons through the agent and uses the test bed's subnet.
node_env() {
  local subnet
  subnet=$(cat "$STATE/subnet")
  echo "FERRY_TESTBED=$NAME"
  echo "FERRY_TESTBED_STATE=$STATE"
  echo "FERRY_TESTBED_HOSTFILE=$STATE/hostfile"
  echo "FERRY_TESTBED_PFS=$(cat "$STATE/pfs-dir")"
  # with --outside: out1's address (the I/O nodes' are the 4th column of nodes)
  [ ! -f "$STATE/outside-subnet" ] || echo "FERRY_TESTBED_OUTSIDE=$(awk '$1 == "out1" {print $2}' "$STATE/nodes")"
  [ ! -f "$STATE/shared-address" ] || echo "FERRY_TESTBED_SHARED=$(cat "$STATE/shared-address")"
  echo "OMPI_MCA_plm_rsh_agent=$HERE/agent.sh"
  echo "OMPI_MCA_btl_tcp_if_include=$subnet"
  echo "OMPI_MCA_oob_tcp_if_include=$subnet"
  # ranks on different nodes talk tcp; the same node, shared memory
  echo "OMPI_MCA_btl=self,vader,tcp"
}

cmd_env() {
  [ -f "$STATE/nodes" ] || die "no test bed $NAME"
  node_env | sed 's/^/export /'
}

# enter_node NODE CMD...: exec CMD on NODE: its network and UTS namespaces,
# and a private mount namespace (a copy of the machine's: same filesystems,
# cgroups) where the test bed's hosts file is bound over /etc/hosts.
enter_node() {
  local node=$1; shift
  exec nsenter --net="/run/netns/$(ns_of "$node")" --uts="$STATE/uts/$node" -- \
    unshare --mount --propagation private -- "$HERE/testbed.sh" _inside "$STATE" "$@"
}

cmd_exec() {
  [ $# -ge 2 ] || die "exec: NODE CMD [ARGS...]"
  local node=$1; shift
  [ -f "$STATE/nodes" ] || die "no test bed $NAME (testbed.sh up --name $NAME)"
  [ -n "$(node_line "$node")" ] || die "no node $node in test bed $NAME (nodes: $(awk '{printf "%s ", $1}' "$STATE/nodes"))"
  need_root
  local envs=()
  mapfile -t envs < <(node_env)
  enter_node "$node" env "${envs[@]}" "$@"
}

cmd_status() {
  [ -f "$STATE/nodes" ] || { echo "test bed $NAME: down"; return 0; }
  echo "test bed $NAME: up; PFS $(cat "$STATE/pfs-dir"); hostfile $STATE/hostfile"
  local n ip role oip pids
  while read -r n ip role oip; do
    pids=$(ip netns pids "$(ns_of "$n")" 2>/dev/null | tr '\n' ' ' || true)
    printf '  %-5s %-15s %-8s %-15s %s\n' "$n" "$ip" "$role" "${oip:+out $oip}" "${pids:+processes: $pids}"
  done <"$STATE/nodes"
}

# Kill every process in network namespace NS (TERM, then KILL).
kill_ns_procs() {
  local ns=$1 pids try
  for try in TERM TERM TERM KILL KILL; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -"$try" $pids 2>/dev/null || true
    sleep 0.3
  done
}

cmd_down() {
  need_root
  local ns n
  # Nodes: from the state if there is one, else whatever namespaces carry the name.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^ferry-$NAME-" || true); do
    [ "$ns" = "$SW" ] && continue
    kill_ns_procs "$ns"
    ip netns del "$ns" 2>/dev/null || true
  done
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$SW"; then
    kill_ns_procs "$SW"
    ip netns del "$SW" 2>/dev/null || true
  fi
  if [ -d "$STATE/uts" ]; then
    for n in "$STATE"/uts/*; do
      [ -e "$n" ] || continue
      umount "$n" 2>/dev/null || true
      rm -f "$n"
    done
  fi
  rm -rf "$STATE"
  echo "test bed $NAME down"
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
sub=$1; shift
if [ "$sub" = _inside ]; then
  # Internal (enter_node, agent.sh): in the node's new mount namespace.
  STATE=$1; shift
  mount --bind "$STATE/hosts" /etc/hosts || die "cannot bind $STATE/hosts over /etc/hosts"
  if [ -f "$STATE/resolv.conf" ]; then
    mount --bind "$STATE/resolv.conf" /etc/resolv.conf || die "cannot bind $STATE/resolv.conf over /etc/resolv.conf"
  fi
  exec "$@"
fi
case $sub in
  --help|-h|help) usage; exit 0 ;;
esac
# exec: only the options before NODE are ours.
if [ "$sub" = exec ]; then
  while [ $# -gt 0 ]; do
    case $1 in
      --name) NAME=$2; shift 2 ;;
      --name=*) NAME=${1#--name=}; shift ;;
      --help|-h) usage; exit 0 ;;
      *) break ;;
    esac
  done
  parse_name
  cmd_exec "$@"
fi
parse_name "$@"
set -- ${ARGS[@]+"${ARGS[@]}"}
case $sub in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) usage >&2; exit 2 ;;
esac

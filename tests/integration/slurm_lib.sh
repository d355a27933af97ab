# Sourced by the Slurm tests: the slurm.conf settings they share (sourced,
# not run).

# slurm_conf_common DIR PER_NODE: the lines of a slurm.conf every Ferry test
# cluster has: root daemons, MUNGE ($MUNGE_SOCKET, from munge_lib.sh), every
# file under DIR, no accounting, cgroup-free plugins (the test beds share the
# machine's cgroups).  PER_NODE "-%n" gives each slurmd its own spool, pid and
# log file (several slurmds on one machine); "" one slurmd.  Also empties
# DIR/plugstack.conf (no SPANK plugins from the system's configuration).
slurm_conf_common() {
  local dir=$1 n=$2
  : >"$dir/plugstack.conf"
  cat <<EOF
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool${n:+/%n}
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd$n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd$n.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
EOF
}

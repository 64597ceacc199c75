#!/bin/bash
# Start a one-node Slurm 22.05 cluster on localhost without systemd or cgroups (for the `slurm`
# tests). Idempotent: returns at once when this cluster already answers. State (sockets, pid files,
# spool, logs, the jobcomp record) lives under $SLURM_CI_ROOT (default /tmp/slurm-ci/state); the
# config goes to /etc/slurm/slurm.conf. Accounting is off: the CI profile polls with squeue, and
# finished jobs are kept in squeue for MinJobAge seconds and in the jobcomp text log (sacct -c).
# Recipe and traps: ../shared/docs/slurm-ci.md. Run as root after .ci/slurm/install.sh.
set -euo pipefail
R=${SLURM_CI_ROOT:-/tmp/slurm-ci/state}
MUNGE_SOCK=$R/munge/munge.socket.2
HERE=$(cd "$(dirname "$0")" && pwd)

wait_for() {  # wait_for <tries> <cmd...>   (0.5 s between tries)
  local n=$1; shift
  for _ in $(seq 1 "$n"); do timeout 10 "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "slurm start: timed out waiting for: $*" >&2; return 1
}

if [ -s /etc/slurm/slurm.conf ] && grep -q "^JobCompLoc=$R/log/jobcomp.log$" /etc/slurm/slurm.conf \
   && timeout 10 sinfo -h -N -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)$'; then
  echo "slurm start: already running ($R)"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "slurm start: must run as root" >&2; exit 1; }
for bin in munged slurmctld slurmd sinfo; do
  command -v "$bin" >/dev/null || { echo "slurm start: $bin missing; run .ci/slurm/install.sh" >&2; exit 1; }
done
bash "$HERE/stop.sh"  # leftovers of a half-started cluster would hold the ports

HOST=$(hostname -s)
NCPU=$(nproc)
NODE=$(slurmd -C | head -1)
MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$NODE")
# copy the topology slurmd sees, so the node does not drain or warn about it
TOPO=$(grep -oE '(Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=[0-9]+' <<<"$NODE" | tr '\n' ' ')

mkdir -p "$R"/munge "$R"/run "$R"/log "$R"/spool/ctld "$R"/spool/d /etc/slurm
chmod 0755 "$R" "$R"/run "$R"/log
chown munge:munge "$R"/munge; chmod 0755 "$R"/munge   # clients must reach the socket
chown slurm:slurm "$R"/log "$R"/spool/ctld

[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
runuser -u munge -- munged --socket="$MUNGE_SOCK" --pid-file="$R"/munge/munged.pid \
  --log-file="$R"/munge/munged.log --seed-file="$R"/munge/munged.seed
wait_for 20 bash -c "munge -S $MUNGE_SOCK -n | unmunge -S $MUNGE_SOCK"

# KillWait=5: a cancelled or timed-out job is SIGKILLed 5 s after SIGTERM (default 30 s).
# MinJobAge=300 >= 3 x slurm-init-seconds-before-status-checks, else the plugin polls sacct.
# OverMemoryKill + task=1: --mem is enforced without cgroups (RSS polled every second).
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=socket=${MUNGE_SOCK}
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
KillWait=5
SlurmctldPidFile=$R/run/slurmctld.pid
SlurmdPidFile=$R/run/slurmd.pid
SlurmdSpoolDir=$R/spool/d
StateSaveLocation=$R/spool/ctld
SlurmctldLogFile=$R/log/slurmctld.log
SlurmdLogFile=$R/log/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherParams=OverMemoryKill
JobAcctGatherFrequency=task=1
JobCompType=jobcomp/filetxt
JobCompLoc=$R/log/jobcomp.log
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${NCPU} ${TOPO}RealMemory=${MEM} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld   # daemonizes, drops to SlurmUser
slurmd      # daemonizes, stays root
if ! wait_for 60 bash -c "sinfo -h -N -o %T | grep -qx idle"; then
  tail -n 20 "$R"/log/slurmctld.log "$R"/log/slurmd.log >&2 || true
  exit 1
fi
sinfo

#!/bin/bash
# Stop what start.sh started, each daemon by the pid in its pid file, and only if that pid still
# belongs to the expected program (slurmctld leaves its pid file behind when it exits).
set -uo pipefail
R=${SLURM_CI_ROOT:-/tmp/slurm-ci/state}
stop() {  # stop <pidfile> <comm>
  [ -s "$1" ] || return 0
  local pid; pid=$(cat "$1")
  # /proc, not ps: procps is not always installed in CI images
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$2" ]; then rm -f "$1"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  rm -f "$1"
}
# cancel this user's leftover jobs first, so no job step outlives the cluster
if [ -s "$R"/run/slurmctld.pid ] && command -v scancel >/dev/null; then
  timeout 20 scancel --user="$(id -un)" 2>/dev/null || true
  for _ in $(seq 1 40); do
    [ -z "$(timeout 10 squeue -h --user="$(id -un)" 2>/dev/null)" ] && break; sleep 0.5
  done
fi
stop "$R"/run/slurmd.pid     slurmd
stop "$R"/run/slurmctld.pid  slurmctld
stop "$R"/munge/munged.pid   munged
echo "slurm stop: done"

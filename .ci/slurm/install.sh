#!/bin/bash
# Install a single-node Slurm (Debian 12's slurm-wlm 22.05 + munge) for the `slurm` tests.
# Idempotent: does nothing when the binaries are already there. Runs as root (CI runs as root).
# Recipe and its traps: ../shared/docs/slurm-ci.md (tested on Debian 12 without systemd).
set -euo pipefail

need=()
for bin in slurmctld slurmd sbatch squeue sacct munged; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "slurm install: already present ($(slurmd -V))"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "slurm install: must run as root (missing: ${need[*]})" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "slurm install: needs apt-get (Debian/Ubuntu)" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
timeout -k 10 300 apt-get update -qq
# package postinst scripts try to start services; policy-rc.d refuses that, which is harmless:
# start.sh starts the daemons itself
timeout -k 10 600 apt-get install -y -qq --no-install-recommends slurm-wlm munge slurm-client
for bin in slurmctld slurmd sbatch squeue sacct munged; do
  command -v "$bin" >/dev/null || { echo "slurm install: $bin still missing" >&2; exit 1; }
done
echo "slurm install: done ($(slurmd -V))"

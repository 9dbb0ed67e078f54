#!/bin/sh
# Kills node NODE of the test cluster the way a power cut would: its slurmd, and the
# slurmstepd and task processes of every job step running on it (found by the job ids squeue
# lists on the node, and SLURMD_NODENAME=NODE in a task's environment). Nothing else.
set -u
n=$1
D=${TUNELUA_SLURM_DIR:-/tmp/tunelua-slurm}
jobs=$(squeue -h -w "$n" -o %i)
kill -9 "$(cat "$D/run/slurmd-$n.pid")" 2>/dev/null
for j in $jobs; do
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    c=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue
    case "$c" in "slurmstepd: [$j."*) kill -9 "$pid" 2>/dev/null; continue ;; esac
    env=$(tr '\0' '\n' < "$p/environ" 2>/dev/null) || continue
    if printf '%s\n' "$env" | grep -qx "SLURM_JOB_ID=$j" &&
       printf '%s\n' "$env" | grep -qx "SLURMD_NODENAME=$n"; then
      kill -9 "$pid" 2>/dev/null
    fi
  done
done
exit 0

#!/bin/sh
# A trainer that ignores SIGTERM and the engine's stop decision (tunelua report exits 3 on
# stop; this keeps going): only SIGKILL ends it. It records its step in the trial dir.
trap '' TERM
echo "$SLURM_JOB_ID.$SLURM_STEP_ID" > "$TUNELUA_TRIAL_DIR/stubborn.step"
while :; do
  tunelua report x=1 node="$SLURMD_NODENAME" >/dev/null 2>&1
  sleep 0.2
done

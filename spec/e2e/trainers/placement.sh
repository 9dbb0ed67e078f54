#!/bin/sh
# Writes what the trial was given (its CPU affinity from /proc/self/status and the resource
# variables) into $TUNELUA_TRIAL_DIR/placement.txt, waits SLEEP (arg 1, default 0.3) seconds,
# reports once and exits 0.
{
  grep '^Cpus_allowed_list' /proc/self/status | sed 's/^Cpus_allowed_list:[[:space:]]*/cpus=/'
  echo "cuda=${CUDA_VISIBLE_DEVICES-unset}"
  echo "omp=${OMP_NUM_THREADS-unset}"
  echo "mkl=${MKL_NUM_THREADS-unset}"
  echo "openblas=${OPENBLAS_NUM_THREADS-unset}"
} > "$TUNELUA_TRIAL_DIR/placement.txt"
sleep "${1:-0.3}"
tunelua report done_at=1 > /dev/null
exit 0

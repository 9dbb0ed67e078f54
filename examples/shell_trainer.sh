#!/bin/sh
# A shell trainer: gradient descent with momentum on f(x) = (x - 3)^2, deterministic.
# Uses `tunelua params`, `restore`, `report` (with checkpoint requests), `checkpoint-dir`
# and `checkpoint`. Run through examples/shell_trainer.lua.
set -u
lr=$(tunelua params lr) || exit 1
mom=$(tunelua params momentum) || mom=0
steps=$(tunelua params steps) || steps=30

step=0 x=0 v=0
if ckpt=$(tunelua restore); then            # exit 1, nothing printed: a fresh start
  read -r step x v < "$ckpt/state"
  echo "shell_trainer: restored step $step from $ckpt"
fi

# Saves the state into a fresh checkpoint directory and records it with the engine.
checkpoint() {
  d=$(tunelua checkpoint-dir) || exit 1
  echo "$step $x $v" > "$d/state"
  tunelua checkpoint "$d" > /dev/null || exit 1
}

while [ "$step" -lt "$steps" ]; do
  set -- $(awk -v x="$x" -v v="$v" -v lr="$lr" -v m="$mom" 'BEGIN {
    v = m * v - lr * 2 * (x - 3); x = x + v
    printf "%.17g %.17g %.17g\n", x, v, (x - 3) ^ 2 }')
  x=$1 v=$2 loss=$3 step=$((step + 1))
  decision=$(tunelua report loss="$loss" step="$step" trainer=shell)
  rc=$?
  case $rc in 0|3) ;; *) exit 1 ;; esac
  case $decision in *checkpoint) checkpoint ;; esac
  [ "$rc" -eq 3 ] && exit 0                   # stop or pause
done
exit 0

#!/bin/sh
# Reports loss = 1/step for N steps (arg 1, default 5), sleeping SLEEP (arg 2) between them;
# exits 0 when told to stop, or by itself after N reports.
n=${1:-5}
pause=${2:-0}
step=1
while [ "$step" -le "$n" ]; do
  loss=$(awk "BEGIN { print 1 / $step }")
  tunelua report loss="$loss" step="$step" > /dev/null
  case $? in 0) ;; 3) exit 0 ;; *) exit 1 ;; esac
  [ "$pause" = 0 ] || sleep "$pause"
  step=$((step + 1))
done
exit 0

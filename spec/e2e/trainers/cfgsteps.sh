#!/bin/sh
# Reports loss = x + 1/step (x from the trial's config, 0 if absent) for N steps (arg 1),
# sleeping SLEEP s (arg 2) after each; exits 0 on stop or after N reports.
# Arg 3, if given, is a lock directory: a trial that finds it held writes LOCK.overlap.
n=${1:-5}
pause=${2:-0}
lock=$3
here=$(dirname "$0")
x=$(python3 "$here/getcfg.py" x 2>/dev/null) || x=0
case $x in ''|null) x=0 ;; esac
if [ -n "$lock" ]; then
  mkdir "$lock" 2>/dev/null || echo "$TUNELUA_TRIAL_ID" >> "$lock.overlap"
fi
echo "cfgsteps: trial $TUNELUA_TRIAL_ID x=$x"
echo "cfgsteps: a line on stderr" >&2
step=1
rc=0
while [ "$step" -le "$n" ]; do
  loss=$(awk "BEGIN { print $x + 1 / $step }")
  tunelua report loss="$loss" step="$step" > /dev/null
  case $? in 0) ;; 3) break ;; *) rc=1; break ;; esac
  [ "$pause" = 0 ] || sleep "$pause"
  step=$((step + 1))
done
[ -z "$lock" ] || rmdir "$lock" 2>/dev/null
exit $rc

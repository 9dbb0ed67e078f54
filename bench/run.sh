#!/bin/sh
# Runs every benchmark of bench/ (b*_*.py, in order) and writes bench/RESULTS.md (and the
# raw lines in bench/results.jsonl). Usage: bench/run.sh [b1 b3 ...]  (default: all).
# Each script also runs alone: bench/b1_bookkeeping.py. See docs/performance.md.
set -e
cd "$(dirname "$0")/.."
make -s tunelua >/dev/null
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
out=bench/results.jsonl
: > "$out"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
if [ $# -eq 0 ]; then set -- $(ls bench/b[0-9]_*.py | sed 's|bench/||; s|_.*||' | uniq); fi
for b in "$@"; do
  # bN's benchmark; bench/b3_tensorboard.py runs alone (docs/performance.md)
  f=$(ls bench/${b}_*.py | grep -v '_tensorboard\.py$' | head -n 1)
  echo "== $f" >&2
  t0=$(date +%s)
  if ! $PY "$f" >> "$out"; then
    echo "{\"bench\":\"$(echo "$b" | tr a-z A-Z)\",\"error\":\"$f failed (exit $?)\"}" >> "$out"
  fi
  echo "   $(( $(date +%s) - t0 )) s: $(tail -n 1 "$out" | cut -c1-200)" >&2
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
$PY bench/report.py "$out" "$load0" "$load1" "$(( $(date +%s) - start ))" > bench/RESULTS.md
echo "wrote bench/RESULTS.md ($(( $(date +%s) - start )) s)" >&2

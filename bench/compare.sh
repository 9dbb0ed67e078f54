#!/bin/sh
# The target of issue 10: `tunelua compare` of five schedulers x 5 repeats on
# examples/research/mf.lua (simulate executor) in under 10 s. Measured with its floor in the
# same run: the same 25 runs as plain `tunelua run` commands, two at a time (xargs -P 2), which
# is what compare does for them minus its own work (checks, reading 25 journals, the table,
# compare.json and compare.html). Usage: bench/compare.sh [ROUNDS]  (default 3). Not part of
# `make test`; the load of the machine is printed since it moves both figures.
set -e
cd "$(dirname "$0")/.."
make -s tunelua >/dev/null
rounds=${1:-3}
tmp=$(mktemp -d "$PWD/tunelua_runs/bench-compare.XXXXXX" 2>/dev/null || { mkdir -p tunelua_runs; mktemp -d "$PWD/tunelua_runs/bench-compare.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
i=0
while [ $i -lt "$rounds" ]; do
  i=$((i + 1))
  t0=$(now)
  ./tunelua compare examples/research/mf.lua --schedulers fifo,asha,hyperband,median,pbt \
    --repeat 5 --executor simulate --jobs "$(nproc)" --dir "$tmp/c$i" --quiet >/dev/null
  t1=$(now)
  for r in 1 2 3 4 5; do for s in fifo asha hyperband median pbt; do
    echo "$s $r"
  done; done | xargs -P "$(nproc)" -n 2 sh -c './tunelua run examples/research/mf.lua --executor simulate --quiet --scheduler "$0" --seed "$1" --dir "'"$tmp"'/f'"$i"'-$0-$1" >/dev/null'
  t2=$(now)
  echo "round $i: compare $(sub "$t1" "$t0") s; floor (25 plain runs, $(nproc) at a time) $(sub "$t2" "$t1") s"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

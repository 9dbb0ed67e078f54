#!/bin/sh
# Before/after on the same machine in the same minutes: builds REV (default: main) in a
# temporary git worktree and runs B1, B3 (2 trainers with each tree's defaults and with
# --no-fsync, 8 trainers with the defaults; C client) and B4 there and here, alternately, ROUNDS times (default 2).
# Each benchmark measures its own floor in the same run. Raw lines: bench/before_after.jsonl;
# a table on stdout. Usage: bench/before_after.sh [REV] [ROUNDS]
set -e
cd "$(dirname "$0")/.."
rev=${1:-main}
rounds=${2:-2}
here=$(pwd)
base=$(mktemp -d /tmp/tunelua-before-XXXXXX)
git worktree add -f --detach "$base" "$rev" >/dev/null 2>&1
trap 'git -C "$here" worktree remove --force "$base" >/dev/null 2>&1 || rm -rf "$base"' EXIT
make -s -C "$base" tunelua >/dev/null
make -s tunelua >/dev/null
out=bench/before_after.jsonl
: > "$out"
export PYTHONDONTWRITEBYTECODE=1
for round in $(seq "$rounds"); do
  for side in before after; do
    if [ $side = before ]; then dir=$base; else dir=$here; fi
    echo "== round $round, $side ($([ $side = before ] && echo "$rev" || echo "working tree"))" >&2
    for spec in "- b1_bookkeeping.py" "B3_PYTHON=0 b3_engine_cost.py" \
                "B3_ARGS=--no-fsync b3_engine_cost.py" "B3_TRAINERS=8 b3_engine_cost.py" \
                "- b4_launch.py"; do
      vars=${spec% *}
      script=${spec##* }
      [ "$vars" = "-" ] && vars=
      line=$(cd "$dir" && env B3_WIDE=0 B3_PYTHON=0 $vars /usr/bin/python3 "bench/$script" \
             2>/dev/null) || line='{}'
      echo "{\"side\":\"$side\",\"round\":$round,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"r\":$line}" >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    x = json.loads(line); r = x["r"]
    if not r: continue
    b = r["bench"]
    if b == "B3":
        key = "B3 %d trainers %s" % (r["params"]["trainers"], r["params"]["args"] or "(defaults)")
        val = "%s us/result, %s results/s" % (r["c"]["engine_us_per_result"], r["c"]["results_per_s"])
    elif b == "B1":
        key, val = "B1 wall/ideal", "%s (floor %s)" % (r["figure"], r["floor"])
    else:
        key, val = "B4 ms spawn->report", "%s (floor %s, ratio %s)" % (r["figure"], r["floor"], r["ratio"])
    rows.setdefault(key, {}).setdefault(x["side"], []).append(val + " [load %s]" % x["load"])
for k, v in rows.items():
    print(k)
    for side in ("before", "after"):
        print("  %-6s %s" % (side, "; ".join(v.get(side, []))))
PY

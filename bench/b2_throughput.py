#!/usr/bin/python3
"""B2 result throughput (Ray Tune's test_result_throughput_single_node, scaled): TRIALS
trials run at once, each reports RATE results/s for DURATION_S seconds (RATE*DURATION_S
results, paced on an absolute schedule by bench/trainers/reporter.c), with every log the
engine writes on (journal with its default fsync, result.jsonl, progress.csv,
summary.json). Figure: wall (exec to exit) / ideal, ideal = DURATION_S. The floor is the
same trainers spawned and paced by bench/floor_spawn.c with no tuner (bare mode), in the
same run."""
import json
import subprocess

from common import build, cleanup, emit, journal, param, rnd, run_tunelua, workdir

TRIALS = param("B2_TRIALS", 96)
RATE = param("B2_RATE", 50.0)
DURATION_S = param("B2_DURATION_S", 10.0)
EXTRA_ARGS = param("B2_ARGS", "")  # e.g. "--no-fsync"
TARGET = 1.05

EXP = """
local tune = require "tunelua"
return tune.experiment {
  name = "b2",
  trainer = { cmd = { %s }, resources = { cpu = 1 } },
  config = { rate = %r, reports = %d },
  num_samples = %d,
  metric = "loss", mode = "min",
  seed = 1,
}
"""


def main():
    reporter, floor = build()
    n = int(RATE * DURATION_S)
    d = workdir("b2")
    try:
        r = run_tunelua(d, EXP % (json.dumps(reporter), RATE, n, TRIALS),
                        ["--cpus", str(TRIALS)] + EXTRA_ARGS.split())
        results = sum(1 for e in journal(r["dir"]) if e["ev"] == "result")
    finally:
        cleanup(d)
    out = subprocess.run([floor, "bare", str(TRIALS), str(TRIALS),
                          json.dumps({"rate": RATE, "reports": n}), reporter],
                         check=True, capture_output=True, text=True).stdout
    fl = json.loads(out)
    ideal = DURATION_S
    emit({"bench": "B2", "name": "result throughput", "figure": rnd(r["wall"] / ideal),
          "unit": "wall/ideal", "wall_s": rnd(r["wall"]), "ideal_s": ideal,
          "floor_s": rnd(fl["wall_s"]), "floor": rnd(fl["wall_s"] / ideal),
          "ratio": rnd(r["wall"] / fl["wall_s"]), "target": "<= %g x ideal" % TARGET,
          "ok": r["wall"] / ideal <= TARGET, "results": results,
          "results_per_s": rnd(results / r["wall"]), "engine_cpu_s": rnd(r["cpu"]),
          "engine_us_per_result": rnd(r["cpu"] / max(results, 1) * 1e6),
          "params": {"trials": TRIALS, "rate": RATE, "duration_s": DURATION_S,
                     "args": EXTRA_ARGS}})


if __name__ == "__main__":
    main()

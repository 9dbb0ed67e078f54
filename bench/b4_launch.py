#!/usr/bin/python3
"""B4 launch latency: TRIALS trials, one at a time, each reports once and exits (C
client, bench/trainers/reporter.c). Figure: mean of (first `result` t - `started` t) in
the journal, i.e. from the engine having spawned the process to the engine having
journaled its first result. Floors, same binary, same run (bench/floor_spawn.c):
  bare   - posix_spawn + waitpid of the trainer in run-by-hand mode (TUNELUA_PARAMS, no
           socket): the issue's floor, and the ratio's denominator;
  server - posix_spawn -> first report read by a minimal protocol peer (constant welcome
           and decision, no logs): the least any engine can do for the same exchange."""
import json
import statistics
import subprocess

from common import build, cleanup, emit, journal, param, rnd, run_tunelua, workdir

TRIALS = param("B4_TRIALS", 1000)
ARGS = param("B4_ARGS", "")  # e.g. "--no-bind"
TARGET = 1.3

EXP = """
local tune = require "tunelua"
return tune.experiment {
  name = "b4",
  trainer = { cmd = { %s }, resources = { cpu = 1 } },
  config = { reports = 1 },
  num_samples = %d,
  max_concurrent = 1,
  metric = "loss", mode = "min",
  seed = 1,
}
"""


def main():
    reporter, floor = build()
    d = workdir("b4")
    try:
        r = run_tunelua(d, EXP % (json.dumps(reporter), TRIALS), ARGS.split())
        started, first = {}, {}
        for e in journal(r["dir"]):
            if e["ev"] == "started":
                started[e["trial"]] = e["t"]
            elif e["ev"] == "result":
                first.setdefault(e["trial"], e["t"])
    finally:
        cleanup(d)
    lat = [first[k] - started[k] for k in started if k in first]
    fl = {}
    for mode in ("bare", "server"):
        out = subprocess.run([floor, mode, str(TRIALS), "1", json.dumps({"reports": 1}), reporter],
                             check=True, capture_output=True, text=True).stdout
        fl[mode] = json.loads(out)
    mean_ms = statistics.mean(lat) * 1e3
    bare = fl["bare"]["mean_exit_ms"]
    emit({"bench": "B4", "name": "launch", "figure": rnd(mean_ms), "unit": "ms spawn->first report",
          "median_ms": rnd(statistics.median(lat) * 1e3),
          "p99_ms": rnd(sorted(lat)[int(len(lat) * 0.99) - 1] * 1e3),
          "floor": rnd(bare), "floor_what": "posix_spawn+waitpid, run-by-hand mode",
          "ratio": rnd(mean_ms / bare), "target": "<= %g x floor" % TARGET,
          "ok": mean_ms / bare <= TARGET,
          "server_floor_ms": rnd(fl["server"]["mean_first_report_ms"]),
          "ratio_server_floor": rnd(mean_ms / fl["server"]["mean_first_report_ms"]),
          "engine_wall_s": rnd(r["wall"]), "trials_per_s": rnd(TRIALS / r["wall"]),
          "params": {"trials": TRIALS, "args": ARGS}})


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""B3 engine cost: TRAINERS trainers report back to back (each waits for its decision,
then sends the next result) for DURATION_S seconds, all logs on, the engine's default
settings (journal fsync on) plus ARGS. Figures: results/s (results in the journal /
first start to last result) and the engine's own CPU per result (utime+stime of the
engine process and its threads, trainers excluded, read from /proc at its exit).
Run with the C client (bench/trainers/reporter.c) and the Python client
(bench/trainers/reporter.py). B3_PERF=FILE records `perf record -g` of the engine during
the C run."""
import json
import os

from common import BENCH, PYTHON, build, cleanup, emit, journal, param, rnd, run_tunelua, workdir

TRAINERS = param("B3_TRAINERS", 2)
DURATION_S = param("B3_DURATION_S", 5.0)
ARGS = param("B3_ARGS", "")  # e.g. "--no-fsync" (B8 runs both)
PYTHON_TOO = param("B3_PYTHON", 1)
PERF = param("B3_PERF", "")
# also: WIDE trainers at once with the journal's fsync on (group commit: one fdatasync
# answers every result that arrived while the previous one ran), and 2 with --no-fsync,
# the engine's own cost without the disk's; 0 skips them
WIDE = param("B3_WIDE", 16)
TARGET_US = 5.0
TARGET_RPS = 50000

EXP = """
local tune = require "tunelua"
return tune.experiment {
  name = "b3",
  trainer = { cmd = { %s }, resources = { cpu = 1 } },
  config = { reports = 0, duration = %r },
  num_samples = %d,
  metric = "loss", mode = "min",
  seed = 1,
}
"""


def measure(cmd, args, perf=None, trainers=None):
    trainers = trainers or TRAINERS
    d = workdir("b3")
    try:
        r = run_tunelua(d, EXP % (", ".join(json.dumps(c) for c in cmd), DURATION_S, trainers),
                        ["--cpus", str(trainers)] + args, perf=perf)
        first = last = None
        n = 0
        for e in journal(r["dir"]):
            if e["ev"] == "started" and first is None:
                first = e["t"]
            elif e["ev"] == "result":
                n += 1
                last = e["t"]
    finally:
        cleanup(d)
    return {"results": n, "results_per_s": rnd(n / (last - first)), "engine_cpu_s": rnd(r["cpu"]),
            "engine_us_per_result": rnd(r["cpu"] / n * 1e6), "wall_s": rnd(r["wall"])}


def run(args, python=True, perf=None):
    reporter, _ = build()
    c = measure([reporter], args, perf)
    rec = {"bench": "B3", "name": "engine cost", "figure": c["engine_us_per_result"],
           "unit": "engine CPU us/result (C client)", "results_per_s": c["results_per_s"],
           "target": "<= %g us/result, >= %d results/s" % (TARGET_US, TARGET_RPS),
           "ok": c["engine_us_per_result"] <= TARGET_US and c["results_per_s"] >= TARGET_RPS,
           "c": c, "params": {"trainers": TRAINERS, "duration_s": DURATION_S, "args": " ".join(args)}}
    if python:
        rec["python"] = measure([PYTHON, os.path.join(BENCH, "trainers", "reporter.py")], args)
    if WIDE and python:
        rec["wide"] = dict(measure([reporter], args, trainers=WIDE), trainers=WIDE)
        if "--no-fsync" not in args:
            rec["no_fsync"] = measure([reporter], args + ["--no-fsync"])
    return rec


if __name__ == "__main__":
    emit(run(ARGS.split(), bool(PYTHON_TOO), PERF or None))

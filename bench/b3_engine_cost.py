#!/usr/bin/python3
"""B3 engine cost: TRAINERS trainers report back to back (each waits for its decision,
then sends the next result) for DURATION_S seconds, all logs on, the engine's default
settings (journal written before each decision, synced once a second) plus ARGS.
Figures: results/s (results in the journal / first start to last result) and the engine's
own CPU per result (utime+stime of the engine process and its threads, trainers excluded,
read from /proc at its exit). Floor, same run and same trainers: bench/floor_stream.c, a
bare epoll server that journals each turn's reports with one write(2) and answers each one
(the kernel's cost of the same wakeups and syscalls, with no JSON, scheduler or logs).
Run with the C client (bench/trainers/reporter.c) and the Python client
(bench/trainers/reporter.py). B3_PERF=FILE records `perf record -g` of the engine during
the C run."""
import json
import os

import subprocess

from common import BENCH, BUILD, PYTHON, build, cleanup, emit, journal, param, rnd, run_tunelua, workdir

TRAINERS = param("B3_TRAINERS", 2)
DURATION_S = param("B3_DURATION_S", 5.0)
ARGS = param("B3_ARGS", "")  # e.g. "--fsync always" (B8 runs every mode)
PYTHON_TOO = param("B3_PYTHON", 1)
PERF = param("B3_PERF", "")
# also: WIDE trainers at once (more results share each wakeup), with its own floor; 0 skips it
WIDE = param("B3_WIDE", 8)
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


def floor(reporter, trainers):
    """bench/floor_stream.c with the same reporter, trainers and duration."""
    d = workdir("b3floor")
    try:
        out = subprocess.run([os.path.join(BUILD, "bench-floor-stream"), str(trainers),
                              json.dumps({"reports": 0, "duration": DURATION_S}), reporter,
                              os.path.join(d, "journal.jsonl")],
                             check=True, capture_output=True, text=True).stdout
    finally:
        cleanup(d)
    f = json.loads(out)
    return {"results": f["results"], "results_per_s": rnd(f["results_per_s"]),
            "cpu_s": rnd(f["cpu_s"]), "us_per_result": rnd(f["us_per_result"])}


def run(args, python=True, perf=None):
    reporter, _ = build()
    fl = floor(reporter, TRAINERS)
    c = measure([reporter], args, perf)
    rec = {"bench": "B3", "name": "engine cost", "figure": c["engine_us_per_result"],
           "unit": "engine CPU us/result (C client)", "results_per_s": c["results_per_s"],
           "floor": fl["us_per_result"],
           "floor_what": "us/result of a bare epoll server, same trainers (%s results/s)"
           % fl["results_per_s"],
           "ratio": rnd(c["engine_us_per_result"] / fl["us_per_result"]),
           "target": "<= %g us/result, >= %d results/s" % (TARGET_US, TARGET_RPS),
           "ok": c["engine_us_per_result"] <= TARGET_US and c["results_per_s"] >= TARGET_RPS,
           "c": dict(c, floor=fl), "params": {"trainers": TRAINERS, "duration_s": DURATION_S,
                                              "args": " ".join(args)}}
    if python:
        rec["python"] = measure([PYTHON, os.path.join(BENCH, "trainers", "reporter.py")], args)
    if WIDE and python:
        wide = dict(measure([reporter], args, trainers=WIDE), trainers=WIDE)
        wide["floor"] = floor(reporter, WIDE)
        rec["wide"] = wide
        wide["ok"] = wide["engine_us_per_result"] <= TARGET_US and wide["results_per_s"] >= TARGET_RPS
    return rec


if __name__ == "__main__":
    emit(run(ARGS.split(), bool(PYTHON_TOO), PERF or None))

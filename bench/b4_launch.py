#!/usr/bin/python3
"""B4 launch latency: TRIALS trials, one at a time, each reports once and exits (C
client, bench/trainers/reporter.c). Figure: mean of (first `result` t - `started` t) in
the journal, i.e. from the engine having spawned the process to the engine having
journaled its first result. Floors, same binary, same run (bench/floor_spawn.c):
  bare   - posix_spawn + waitpid of the trainer in run-by-hand mode (TUNELUA_PARAMS, no
           socket): the issue's floor, and the ratio's denominator;
  server - posix_spawn -> first report read by a minimal protocol peer (constant welcome
           and decision, no logs): the least any engine can do for the same exchange.
The engine's run is measured with its work directory where tempfile puts it (TMPDIR, else
/tmp), and with B4_SHM=1 (the default) once more under /dev/shm (tmpfs): a trial's files
are created while its trainer starts, and on a slow file system that costs the trainer
CPU and the engine waits (see B1)."""
import json
import statistics
import subprocess
import tempfile

from common import build, cleanup, emit, fs_of, journal, param, rnd, run_tunelua, shm_dir

TRIALS = param("B4_TRIALS", 1000)
ARGS = param("B4_ARGS", "")  # e.g. "--no-bind"
SHM = param("B4_SHM", 1)
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


def engine(reporter, root=None):
    """Spawn -> first report latencies (s) of the engine's trials, and its wall time."""
    d = tempfile.mkdtemp(prefix="tunelua-bench-b4-", dir=root)
    fs = fs_of(d)
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
    return {"mean_ms": rnd(statistics.mean(lat) * 1e3),
            "median_ms": rnd(statistics.median(lat) * 1e3),
            "p99_ms": rnd(sorted(lat)[int(len(lat) * 0.99) - 1] * 1e3), "fs": fs,
            "engine_wall_s": rnd(r["wall"]), "trials_per_s": rnd(TRIALS / r["wall"])}


def main():
    reporter, floor = build()
    m = engine(reporter)
    fl = {}
    for mode in ("bare", "server"):
        out = subprocess.run([floor, mode, str(TRIALS), "1", json.dumps({"reports": 1}), reporter],
                             check=True, capture_output=True, text=True).stdout
        fl[mode] = json.loads(out)
    bare = fl["bare"]["mean_exit_ms"]
    rec = {"bench": "B4", "name": "launch", "figure": m["mean_ms"], "unit": "ms spawn->first report",
           "median_ms": m["median_ms"], "p99_ms": m["p99_ms"], "fs": m["fs"],
           "floor": rnd(bare), "floor_what": "posix_spawn+waitpid, run-by-hand mode",
           "ratio": rnd(m["mean_ms"] / bare), "target": "<= %g x floor" % TARGET,
           "ok": m["mean_ms"] / bare <= TARGET,
           "server_floor_ms": rnd(fl["server"]["mean_first_report_ms"]),
           "ratio_server_floor": rnd(m["mean_ms"] / fl["server"]["mean_first_report_ms"]),
           "engine_wall_s": m["engine_wall_s"], "trials_per_s": m["trials_per_s"]}
    if SHM and shm_dir():
        s = engine(reporter, shm_dir())
        s["ratio"] = rnd(s["mean_ms"] / bare)
        rec["shm"] = s
    rec["params"] = {"trials": TRIALS, "args": ARGS, "shm": SHM}
    emit(rec)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""B1 bookkeeping overhead (Ray Tune's test_bookkeeping_overhead, scaled to one machine):
TRIALS trials, each sleeps SLEEP_S then reports once, CONCURRENT at a time, C trainer
(bench/trainers/reporter.c). Figure: wall (exec of tunelua to its exit) / ideal, where
ideal = TRIALS * SLEEP_S / CONCURRENT. The floor is the same binary spawned the same way
by bench/floor_spawn.c (bare mode: no tuner, no socket), measured in the same run; and
files mode, which also creates the six inodes a tunelua trial has (its directory and five
log files) in the same file system: on ext4 with many recently deleted files, creating
them is most of the engine's cost (docs/performance.md).
The trials only sleep, so the engine is told --cpus CONCURRENT on any machine.
The work directories are where tempfile puts them (TMPDIR, else /tmp): the figure is
the engine on that file system. With B1_SHM=1 (the default) the whole measurement, floors
included, runs once more under /dev/shm (tmpfs), which shows the engine apart from the file
system: on ext4 without a journal (this benchmark's VM), ext4 scans past every inode freed
in the last minute before it reuses one (fs/ext4/ialloc.c, recently_deleted), and each run
of a benchmark frees thousands."""
import json
import subprocess
import tempfile

from common import build, cleanup, emit, fs_of, journal, param, rnd, run_tunelua, shm_dir

TRIALS = param("B1_TRIALS", 1000)
SLEEP_S = param("B1_SLEEP_S", 0.1)
CONCURRENT = param("B1_CONCURRENT", 8)
EXTRA_ARGS = param("B1_ARGS", "")  # e.g. "--no-fsync"
SHM = param("B1_SHM", 1)
TARGET = 1.03

EXP = """
local tune = require "tunelua"
return tune.experiment {
  name = "b1",
  trainer = { cmd = { %s }, resources = { cpu = 1 } },
  config = { pre_sleep = %r, reports = 1 },
  num_samples = %d,
  max_concurrent = %d,
  metric = "loss", mode = "min",
  seed = 1,
}
"""


def phases(run_dir):
    """Where the time beyond the sleep goes, from the journal: mean ms of trial_added ->
    started, started -> result, result -> TERMINATED, and a trial's end -> the next start."""
    added, started, res, end = {}, {}, {}, {}
    for e in journal(run_dir):
        k = e.get("trial")
        if e["ev"] == "trial_added":
            added[k] = e["t"]
        elif e["ev"] == "started":
            started[k] = e["t"]
        elif e["ev"] == "result":
            res.setdefault(k, e["t"])
        elif e["ev"] == "status" and e.get("status") == "TERMINATED":
            end[k] = e["t"]
    ms = lambda xs: rnd(sum(xs) / max(len(xs), 1) * 1e3)  # noqa: E731
    ends = sorted(end.values())
    gaps = []
    for t in sorted(started.values())[CONCURRENT:]:
        i = __import__("bisect").bisect_right(ends, t) - 1
        if i >= 0:
            gaps.append(t - ends[i])
    return len(res), {"added_to_started_ms": ms([started[k] - added[k] for k in started if k in added]),
                      "started_to_result_ms": ms([res[k] - started[k] for k in res if k in started]),
                      "result_to_end_ms": ms([end[k] - res[k] for k in end if k in res]),
                      "end_to_next_start_ms": ms(gaps)}


def measure(root=None):
    """The engine, the bare floor and the files floor, work directories under root. Both
    directories go only at the end: deleting one run's 6,000 inodes before the next run
    would slow the next run's creates on ext4 without a journal (see the docstring)."""
    reporter, floor = build()
    d = tempfile.mkdtemp(prefix="tunelua-bench-b1-", dir=root)
    fd = tempfile.mkdtemp(prefix="tunelua-bench-b1files-", dir=root)
    fs = fs_of(d)
    try:
        r = run_tunelua(d, EXP % (json.dumps(reporter), SLEEP_S, TRIALS, CONCURRENT),
                        ["--cpus", str(CONCURRENT)] + EXTRA_ARGS.split())
        n_results, ph = phases(r["dir"])
        out = subprocess.run([floor, "bare", str(TRIALS), str(CONCURRENT),
                              json.dumps({"pre_sleep": SLEEP_S, "reports": 1}), reporter],
                             check=True, capture_output=True, text=True).stdout
        fl = json.loads(out)
        out = subprocess.run([floor, "files", str(TRIALS), str(CONCURRENT),
                              json.dumps({"pre_sleep": SLEEP_S, "reports": 1}), reporter, fd],
                             check=True, capture_output=True, text=True).stdout
    finally:
        cleanup(d)
        cleanup(fd)
    ff = json.loads(out)
    ideal = TRIALS * SLEEP_S / CONCURRENT
    return {"figure": rnd(r["wall"] / ideal), "wall_s": rnd(r["wall"]), "ideal_s": ideal,
            "floor_s": rnd(fl["wall_s"]), "floor": rnd(fl["wall_s"] / ideal),
            "ratio": rnd(r["wall"] / fl["wall_s"]), "files_floor": rnd(ff["wall_s"] / ideal),
            "ratio_files_floor": rnd(r["wall"] / ff["wall_s"]), "fs": fs,
            "engine_cpu_s": rnd(r["cpu"]), "results": n_results, "phases": ph}


def main():
    rec = {"bench": "B1", "name": "bookkeeping", "unit": "wall/ideal"}
    rec.update(measure())
    rec.update({"target": "<= %g x ideal" % TARGET, "ok": rec["figure"] <= TARGET})
    if SHM and shm_dir():
        rec["shm"] = measure(shm_dir())
    rec["params"] = {"trials": TRIALS, "sleep_s": SLEEP_S, "concurrent": CONCURRENT,
                     "args": EXTRA_ARGS, "shm": SHM}
    emit(rec)


if __name__ == "__main__":
    main()

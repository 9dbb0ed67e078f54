#!/usr/bin/python3
"""B1 bookkeeping overhead (Ray Tune's test_bookkeeping_overhead, scaled to one machine):
TRIALS trials, each sleeps SLEEP_S then reports once, CONCURRENT at a time, C trainer
(bench/trainers/reporter.c). Figure: wall (exec of tunelua to its exit) / ideal, where
ideal = TRIALS * SLEEP_S / CONCURRENT. The floor is the same binary spawned the same way
by bench/floor_spawn.c (bare mode: no tuner, no socket), measured in the same run; files
mode, which also creates the six inodes a tunelua trial has (its directory and five log
files) in the same file system: on ext4 with many recently deleted files, creating them is
most of the engine's cost (docs/performance.md); and server mode, a minimal protocol peer
(hello, welcome also in TUNELUA_WELCOME, report, constant decision; no files): what any
tuner that talks to its trainers pays in wake-ups.
The trials only sleep, so the engine is told --cpus CONCURRENT on any machine.
The work directories are where tempfile puts them (TMPDIR, else /tmp): the figure is
the engine on that file system. With B1_SHM=1 (the default) the whole measurement, floors
included, runs once more under /dev/shm (tmpfs), which shows the engine apart from the file
system: on ext4 without a journal (this benchmark's VM), ext4 scans past every inode freed
in the last minute before it reuses one (fs/ext4/ialloc.c, recently_deleted), and each run
of a benchmark frees thousands.
The four runs (engine, bare floor, files floor, server floor) are made REPEAT times, in an order turned at
each round, and the figures are medians: on a shared VM one run of 13 s moves by 1-2% from
the next, as much as the target's margin."""
import bisect
import json
import statistics
import subprocess
import tempfile

from common import build, cleanup, emit, fs_of, param, rnd, run_tunelua, shm_dir, trial_times

TRIALS = param("B1_TRIALS", 1000)
SLEEP_S = param("B1_SLEEP_S", 0.1)
CONCURRENT = param("B1_CONCURRENT", 8)
EXTRA_ARGS = param("B1_ARGS", "")  # e.g. "--no-fsync"
SHM = param("B1_SHM", 1)
REPEAT = param("B1_REPEAT", 3)  # rounds of (engine and the three floors); medians reported
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
    tt = trial_times(run_dir).values()
    ms = lambda xs: rnd(sum(xs) / max(len(xs), 1) * 1e3)  # noqa: E731
    span = lambda a, b: [t[b] - t[a] for t in tt if a in t and b in t]  # noqa: E731
    ends = sorted(t["TERMINATED"] for t in tt if "TERMINATED" in t)
    gaps = []
    for t in sorted(t["started"] for t in tt if "started" in t)[CONCURRENT:]:
        i = bisect.bisect_right(ends, t) - 1
        if i >= 0:
            gaps.append(t - ends[i])
    return sum(1 for t in tt if "result" in t), {
        "added_to_started_ms": ms(span("trial_added", "started")),
        "started_to_result_ms": ms(span("started", "result")),
        "result_to_end_ms": ms(span("result", "TERMINATED")),
        "end_to_next_start_ms": ms(gaps)}


def measure(root=None):
    """The engine and the bare, files and server floors, REPEAT times each, their order
    turned at each round so that none always goes first; work directories under root. Every
    directory goes only at the end: deleting one run's 6,000 inodes before the next run
    would slow the next run's creates on ext4 without a journal (see the docstring).
    Each figure is the median over the rounds (its own median: the engine's figure and the
    floors need not come from one round); the ratios are the medians of each round's; the
    phases and the engine's CPU are those of the round with the median engine figure."""
    reporter, floor = build()
    ideal = TRIALS * SLEEP_S / CONCURRENT
    dirs, rounds = [], []
    fs = None
    args = json.dumps({"pre_sleep": SLEEP_S, "reports": 1})
    try:
        for k in range(REPEAT):
            d = tempfile.mkdtemp(prefix="tunelua-bench-b1-", dir=root)
            fd = tempfile.mkdtemp(prefix="tunelua-bench-b1files-", dir=root)
            dirs += [d, fd]
            fs = fs or fs_of(d)
            got = {}

            def engine():
                r = run_tunelua(d, EXP % (json.dumps(reporter), SLEEP_S, TRIALS, CONCURRENT),
                                ["--cpus", str(CONCURRENT)] + EXTRA_ARGS.split())
                got["engine"] = r
                got["results"], got["phases"] = phases(r["dir"])

            def floor_run(mode, *extra):
                got[mode] = json.loads(subprocess.run(
                    [floor, mode, str(TRIALS), str(CONCURRENT), args, reporter, *extra],
                    check=True, capture_output=True, text=True).stdout)

            order = [engine, lambda: floor_run("bare"), lambda: floor_run("files", fd),
                     lambda: floor_run("server")]
            for run in order[k % 4:] + order[:k % 4]:
                run()
            w, fl, ff = got["engine"]["wall"], got["bare"]["wall_s"], got["files"]["wall_s"]
            fs_ = got["server"]["wall_s"]
            rounds.append({"figure": w / ideal, "floor": fl / ideal, "files_floor": ff / ideal,
                           "server_floor": fs_ / ideal, "ratio_server_floor": w / fs_,
                           "ratio": w / fl, "ratio_files_floor": w / ff, "wall_s": w,
                           "floor_s": fl, "cpu": got["engine"]["cpu"],
                           "results": got["results"], "phases": got["phases"]})
    finally:
        for d in dirs:
            cleanup(d)
    med = lambda key: statistics.median(r[key] for r in rounds)  # noqa: E731
    mid = sorted(rounds, key=lambda r: r["figure"])[(len(rounds) - 1) // 2]
    return {"figure": rnd(med("figure")), "wall_s": rnd(med("wall_s")), "ideal_s": ideal,
            "floor_s": rnd(med("floor_s")), "floor": rnd(med("floor")),
            "ratio": rnd(med("ratio")), "files_floor": rnd(med("files_floor")),
            "ratio_files_floor": rnd(med("ratio_files_floor")),
            "server_floor": rnd(med("server_floor")),
            "ratio_server_floor": rnd(med("ratio_server_floor")), "fs": fs,
            "engine_cpu_s": rnd(mid["cpu"]), "results": mid["results"], "phases": mid["phases"],
            "rounds": [{k: rnd(r[k]) for k in ("figure", "floor", "files_floor", "server_floor")}
                       for r in rounds]}


def main():
    rec = {"bench": "B1", "name": "bookkeeping", "unit": "wall/ideal"}
    rec.update(measure())
    rec.update({"target": "<= %g x ideal" % TARGET, "ok": rec["figure"] <= TARGET})
    if SHM and shm_dir():
        rec["shm"] = measure(shm_dir())
    rec["params"] = {"trials": TRIALS, "sleep_s": SLEEP_S, "concurrent": CONCURRENT,
                     "args": EXTRA_ARGS, "shm": SHM, "repeat": REPEAT}
    emit(rec)


if __name__ == "__main__":
    main()

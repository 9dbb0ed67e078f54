#!/usr/bin/python3
"""Where B1's trial cycle goes, seen from the trainer (not part of make bench; a tool for
docs/performance.md): TRIALS trials of B1's shape (each sleeps SLEEP_S, reports once,
CONCURRENT at a time) with bench/trainers/stamped.c, whose result carries CLOCK_REALTIME
stamps (its main, its config in hand, the end of its sleep) and whose stderr.log holds the
time its decision came. Against the journal's times (the same clock) that gives, per trial:
  started -> main            exec and dynamic loading
  main -> config             connect, hello and (without the early welcome) the welcome
  sleep beyond SLEEP_S
  slept -> result journaled  the report's way into the engine
  result -> decision         the engine's answer
  decision -> TERMINATED     done, exit, EOF and SIGCHLD
  TERMINATED -> next added   the next trial's choice
  added -> started           its spawn
Prints one JSON line: each phase's mean, median and 90th percentile in ms, and wall/ideal.
Work directories on tmpfs (SHM=1, the default), else where tempfile puts them."""
import bisect
import json
import os
import subprocess

from common import BUILD, ROOT, build, cleanup, emit, param, rnd, run_tunelua, trial_times, workdir

TRIALS = param("B1P_TRIALS", 400)
SLEEP_S = param("B1P_SLEEP_S", 0.1)
CONCURRENT = param("B1P_CONCURRENT", 8)
SHM = param("B1P_SHM", 1)
ARGS = param("B1P_ARGS", "")

EXP = """
local tune = require "tunelua"
return tune.experiment {
  name = "b1-phases",
  trainer = { cmd = { %s }, resources = { cpu = 1 } },
  config = { pre_sleep = %r },
  num_samples = %d,
  max_concurrent = %d,
  metric = "loss", mode = "min",
}
"""


def stats(xs):
    xs = sorted(x * 1e3 for x in xs)
    n = len(xs)
    return {"mean": rnd(sum(xs) / n), "median": rnd(xs[n // 2]), "p90": rnd(xs[int(n * 0.9)])}


def main():
    build()
    prog = os.path.join(BUILD, "bench-stamped")
    subprocess.run(["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-Itrainers/c", "-o",
                    prog, "bench/trainers/stamped.c"], cwd=ROOT, check=True)
    d = workdir("b1phases", shm=bool(SHM))
    try:
        r = run_tunelua(d, EXP % (json.dumps(prog), SLEEP_S, TRIALS, CONCURRENT),
                        ["--cpus", str(CONCURRENT)] + ARGS.split())
        ev = trial_times(r["dir"])
        ph = {k: [] for k in ("started_to_main", "main_to_config", "sleep_beyond", "slept_to_result",
                              "result_to_decision", "decision_to_terminated",
                              "terminated_to_next_added", "added_to_started")}
        for k, t in ev.items():
            s = t["metrics"]
            with open(os.path.join(r["dir"], "trials", k, "stderr.log")) as f:
                t_dec = float(f.read().split()[0])
            ph["started_to_main"].append(s["t_main"] - t["started"])
            ph["main_to_config"].append(s["t_config"] - s["t_main"])
            ph["sleep_beyond"].append(s["t_slept"] - s["t_config"] - SLEEP_S)
            ph["slept_to_result"].append(t["result"] - s["t_slept"])
            ph["result_to_decision"].append(t_dec - t["result"])
            ph["decision_to_terminated"].append(t["TERMINATED"] - t_dec)
            ph["added_to_started"].append(t["started"] - t["trial_added"])
        added = sorted(t["trial_added"] for t in ev.values())
        for t in sorted(t["TERMINATED"] for t in ev.values())[:-CONCURRENT]:
            i = bisect.bisect_left(added, t)
            if i < len(added):
                ph["terminated_to_next_added"].append(added[i] - t)
        emit({"bench": "B1-phases", "unit": "ms", "wall_over_ideal": rnd(
            r["wall"] / (TRIALS * SLEEP_S / CONCURRENT)),
            "phases": {k: stats(v) for k, v in ph.items()},
            "params": {"trials": TRIALS, "sleep_s": SLEEP_S, "concurrent": CONCURRENT,
                       "shm": SHM, "args": ARGS}})
    finally:
        cleanup(d)


if __name__ == "__main__":
    main()

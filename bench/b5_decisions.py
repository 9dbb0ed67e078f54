#!/usr/bin/python3
"""B5 decision cost, through the simulate executor (Lua trainer on a virtual clock, so the
engine is the only thing running): for each N in SIZES, N trials of up to ITERS results
each, CPUS trials at a time.
- Schedulers (every file of schedulers/ that defines on_result and is not a searcher):
  us per result = (wall with the scheduler - wall with bench/empty_scheduler.lua) /
  results, both with bench/empty_searcher.lua.
- Searchers (files defining suggest: random, grid, ...): us per suggest = (wall with the
  searcher - wall with the empty searcher) / trials, both with the empty scheduler.
The baseline (empty scheduler + empty searcher) is measured in the same run. Every run is
repeated REPEAT times and the least is kept. "Wall" here is the engine's user CPU time
(utime, clock ticks of 10 ms: the resolution is 10 ms / results), since the scheduler
and searcher are Lua code and the trial directories' file work (system time) is the
same in both runs; this keeps other load on the machine out of the figure. The
baseline's own engine cost per result (user + system CPU, and wall) is reported too.
Peer: Optuna's RandomSampler and TPESampler, ask+tell per trial, in-memory storage, same
4-parameter space, at OPTUNA_TRIALS trials (if optuna is importable by /usr/bin/python3)."""
import glob
import json
import os
import re
import subprocess

from common import BENCH, PYTHON, ROOT, build, cleanup, emit, param, rnd, run_tunelua, workdir

SIZES = [int(s) for s in param("B5_SIZES", "100,1000,10000").split(",")]
ITERS = param("B5_ITERS", 10)
CPUS = param("B5_CPUS", 8)
REPEAT = param("B5_REPEAT", 2)  # the largest size runs once
TIMEOUT_S = param("B5_TIMEOUT_S", 15.0)  # per run: 3 x the baseline's wall + this; a slower one is reported as "> X us"
# the same for searchers: TPE and BOHB fit to every observation at each suggestion (as
# hyperopt and Optuna do), so their 10,000-trial runs take about a minute
SEARCH_TIMEOUT_S = param("B5_SEARCH_TIMEOUT_S", 150.0)
OPTUNA_TRIALS = param("B5_OPTUNA_TRIALS", 1000)
SHM = param("B5_SHM", 1)  # 1: work directories under /dev/shm (tmpfs), see workdir()
ONLY = [s for s in param("B5_ONLY", "").split(",") if s]  # e.g. "asha,tpe": only these files (and the baseline)

# Options for schedulers that need some; any other is built with {}.
SCHED_OPTS = {
    "asha": "{ max_t = %(iters)d, grace_period = 1 }",
    "hyperband": "{ max_t = %(iters)d }",
    "median": "{ grace_period = 2 }",
    "pbt": "{ perturbation_interval = 2, time_attr = 'training_iteration', "
           "hyperparam_mutations = { lr = tune.loguniform(1e-4, 1e-1) } }",
    "fifo": "{}",
}
SEARCH_OPTS = {"grid": "{ points = 10, max_trials = %(n)d }", "random": "{ max_trials = %(n)d }"}

EXP = """
local tune = require "tunelua"
local sched = %(sched)s
local search = %(search)s
return tune.experiment {
  name = "b5",
  trainer = {
    simulate = function(config, it, state, rng)
      return { loss = config.lr / it + rng:uniform(0, 0.01) }
    end,
    iteration_time = 1,
  },
  config = { lr = tune.loguniform(1e-4, 1e-1), wd = tune.uniform(0, 0.3),
             act = tune.choice { "relu", "tanh" }, layers = tune.randint(1, 5) },
  num_samples = %(n)d,  -- grid: 10 points per domain, capped by max_trials
  stop = { training_iteration = %(iters)d },
  scheduler = sched, searcher = search,
  metric = "loss", mode = "min", seed = 1,
}
"""


def lua_file(path):
    return "dofile(%s)()" % json.dumps(path)


def kinds():
    scheds, searchers = [], []
    for f in sorted(glob.glob(os.path.join(ROOT, "schedulers", "*.lua"))):
        name = os.path.basename(f)[:-4]
        if ONLY and name not in ONLY:
            continue
        text = open(f).read()
        if re.search(r"[:.]suggest\s*\(", text):
            searchers.append(name)
        elif re.search(r"[:.]on_result\s*\(", text):
            scheds.append(name)
    return scheds, searchers


def run_once(n, sched, search, timeout=TIMEOUT_S):
    d = workdir("b5", SHM)
    try:
        text = EXP % {"sched": sched, "search": search, "n": n, "iters": ITERS}
        r = run_tunelua(d, text, ["--cpus", str(CPUS)], timeout=timeout)
        results = 0
        with open(os.path.join(r["dir"], "journal.jsonl")) as f:
            for line in f:
                if line.startswith('{"ev":"result"'):
                    results += 1
        return r["utime"], results, r["cpu"], r["wall"]
    finally:
        cleanup(d)


def optuna_peer(n):
    code = r"""
import time, optuna, json, sys
optuna.logging.set_verbosity(optuna.logging.WARNING)
n = int(sys.argv[1])
out = {}
for name, s in (("RandomSampler", optuna.samplers.RandomSampler(seed=1)),
                ("TPESampler", optuna.samplers.TPESampler(seed=1))):
    st = optuna.create_study(sampler=s, direction="minimize")
    t0 = time.perf_counter()
    for i in range(n):
        t = st.ask()
        lr = t.suggest_float("lr", 1e-4, 1e-1, log=True)
        t.suggest_float("wd", 0, 0.3)
        t.suggest_categorical("act", ["relu", "tanh"])
        t.suggest_int("layers", 1, 4)
        st.tell(t, lr)
    out[name] = (time.perf_counter() - t0) / n * 1e6
print(json.dumps({"optuna": optuna.__version__, "us_per_trial": out}))
"""
    p = subprocess.run([PYTHON, "-c", code, str(n)], capture_output=True, text=True)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr else "failed"}
    return json.loads(p.stdout)


def main():
    build()
    scheds, searchers = kinds()
    es, eq = lua_file(os.path.join(BENCH, "empty_scheduler.lua")), lua_file(
        os.path.join(BENCH, "empty_searcher.lua"))
    out = {"bench": "B5", "name": "decisions", "unit": "us per on_result / per suggest",
           "schedulers": {}, "searchers": {}, "baseline": {},
           "params": {"sizes": SIZES, "iters": ITERS, "cpus": CPUS, "repeat": REPEAT, "shm": SHM}}
    for n in SIZES:
        rep = 1 if n == max(SIZES) else REPEAT
        base_wall, base_res, base_cpu, base_w = min(run_once(n, es, eq, None) for _ in range(rep))
        out["baseline"][n] = {"wall_s": rnd(base_w), "utime_s": base_wall, "results": base_res,
                              "engine_cpu_us_per_result": rnd(base_cpu / base_res * 1e6),
                              "engine_wall_us_per_result": rnd(base_w / base_res * 1e6)}
        for s in scheds:
            try:
                w, res, _, _ = min(run_once(n, "tune.schedulers.%s %s" % (s, SCHED_OPTS.get(s, "{}") % {
                    "iters": ITERS}), eq, 3 * base_w + TIMEOUT_S) for _ in range(rep))
                # per result of the scheduler's run, less the baseline's per-result cost
                us = (w / res - base_wall / base_res) * 1e6
                out["schedulers"].setdefault(s, {})[n] = rnd(us)
            except TimeoutError:
                out["schedulers"].setdefault(s, {})[n] = "> %.0f" % ((2 * base_w + TIMEOUT_S) / (n * ITERS) * 1e6)
            except SystemExit as e:
                out["schedulers"].setdefault(s, {})[n] = "error: %s" % e
        for q in searchers:
            try:
                w, _, _, _ = min(run_once(n, es, "tune.searchers.%s %s" % (q, SEARCH_OPTS.get(q, "{ max_trials = %(n)d }") % {"n": n}), 3 * base_w + SEARCH_TIMEOUT_S)
                           for _ in range(rep))
                out["searchers"].setdefault(q, {})[n] = rnd((w - base_wall) / n * 1e6)
            except TimeoutError:
                out["searchers"].setdefault(q, {})[n] = "> %.0f" % ((2 * base_w + SEARCH_TIMEOUT_S) / n * 1e6)
            except SystemExit as e:
                out["searchers"].setdefault(q, {})[n] = "error: %s" % e
    if OPTUNA_TRIALS > 0:
        out["optuna"] = optuna_peer(OPTUNA_TRIALS)
        out["optuna"]["trials"] = OPTUNA_TRIALS
    emit(out)


if __name__ == "__main__":
    main()

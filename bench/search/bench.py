#!/usr/bin/env python3
"""Search benchmark: tunelua's random/TPE/HyperBand/BOHB against Optuna's RandomSampler and
TPESampler (Debian python3-optuna; univariate and multivariate) on Branin, Hartmann6 and
multi-fidelity Branin, same seeds and budgets; then the suggestion latency of both TPEs at
n = 100 and 1000 completed trials with 8 parameters.   make bench-search   (BENCH_SEEDS, BENCH_N to resize it;
BENCH_ONLY_TPE=1 for just tunelua's and Optuna's default TPE, e.g. over BENCH_SEEDS=100)
"""
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEEDS = list(range(1, int(os.environ.get("BENCH_SEEDS", "10")) + 1))
N = int(os.environ.get("BENCH_N", "200"))
ONLY_TPE = os.environ.get("BENCH_ONLY_TPE") == "1"   # just the two TPE rows and their targets
MAX_T = 27
MF_BANDS = 4          # hyperband trials: 4 bands of max_t=27, eta=3 (49 trials, 357 iterations)
MF_TRIALS = MF_BANDS * 49
MF_FULL = round(MF_BANDS * 357 / MAX_T)   # the same iterations as full-budget trials

BRANIN_MIN, HARTMANN_MIN = 0.397887, -3.32237


def branin(x1, x2, z=1.0):
    b = 5.1 / (4 * math.pi ** 2) - 0.01 * (1 - z)
    c = 5 / math.pi - 0.1 * (1 - z)
    t = 1 / (8 * math.pi) + 0.05 * (1 - z)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
     [17, 8, 0.05, 10, 0.1, 14]]
P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x):
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j] * 1e-4) ** 2
                                         for j in range(6))) for i in range(4))


LEGEND = """
options: every run minimises one function, 1 trial at a time, the same seeds for both tools
  tunelua tpe            tpe {} defaults: multivariate (one joint model), kernels by Scott's rule
                         per dimension, 1.06 sd n^(-1/(d+4)), at least min_bandwidth 0.06 of
                         the range, prior_weight 2; n_startup_trials 10, n_ei_candidates 24,
                         gamma min(ceil(0.1 n), 25), Optuna's ramp weights, constant_liar
                         (idle: 1 at a time)
  tunelua tpe univariate tpe { multivariate = false }: Optuna 3.1's TPESampler (univariate, prior
                         weight 1, magic clip, bandwidth_weights: kernels weigh as their sigma)
  tunelua tpe normalised the same with bandwidth_weights = false (normalised kernels, as
                         Optuna >= 3.5 after optuna#5109)
  tunelua tpe multivar   tpe { multivariate_bandwidth = "optuna", prior_weight = 1 }: Optuna's
                         multivariate kernels, sigma 0.2 n^(-1/(d+4)) range, magic clip
  optuna tpe             TPESampler(seed=seed): Optuna's defaults (univariate, the same
                         n_startup_trials, n_ei_candidates, gamma, weights, prior as above)
  optuna tpe multivar    TPESampler(seed=seed, multivariate=True)"""


def tunelua_run(fn, method, seed, n, opts="{}"):
    """Regret of one tunelua run (value at full budget for branin_mf); opts: tpe's options."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, BENCH_FN=fn, BENCH_METHOD=method, BENCH_N=str(n),
                   BENCH_MAX_T=str(MAX_T), BENCH_DIR=HERE, BENCH_TPE_OPTS=opts)
        subprocess.run([os.path.join(ROOT, "tunelua"), os.path.join(HERE, "exp.lua"),
                        "--dir", d + "/run", "--seed", str(seed), "--quiet", "--no-fsync",
                        "--executor", "simulate"], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        best = math.inf
        with open(d + "/run/journal.jsonl") as f:
            for line in f:
                ev = json.loads(line)
                if ev.get("ev") != "result":
                    continue
                r = ev["result"]
                if fn == "branin_mf" and r["training_iteration"] < MAX_T:
                    continue
                best = min(best, r["value"])
        return best - (HARTMANN_MIN if fn == "hartmann6" else BRANIN_MIN)


def optuna_run(fn, method, seed, n, opts="{}"):
    """Regret of one Optuna run; opts: "multivariate" for TPESampler(multivariate=True)."""
    import optuna
    import warnings
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    if method == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=opts == "multivariate")
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        if fn == "hartmann6":
            return hartmann6([trial.suggest_float("x%d" % i, 0, 1) for i in range(6)])
        return branin(trial.suggest_float("x1", -5, 10), trial.suggest_float("x2", 0, 15))
    study.optimize(objective, n_trials=n)
    return study.best_value - (HARTMANN_MIN if fn == "hartmann6" else BRANIN_MIN)


def quartiles(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return q[1], q[0], q[2]


def optuna_latency(n, reps=5):
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial
    import random
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rnd = random.Random(1)
    dists = {"x%d" % i: FloatDistribution(0, 1) for i in range(8)}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    trials = []
    for _ in range(n):
        params = {k: rnd.random() for k in dists}
        trials.append(create_trial(params=params, distributions=dists,
                                   value=sum((v - 0.3) ** 2 for v in params.values())))
    study.add_trials(trials)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        trial = study.ask()
        for k, d in dists.items():
            trial.suggest_float(k, d.low, d.high)
        times.append(time.perf_counter() - t0)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # not a completed trial
    return statistics.median(times) * 1e3


def tunelua_latency(n):
    out = subprocess.run(["luajit", os.path.join(HERE, "latency.lua"), str(n)], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return float(out.split()[0])


def main():
    import optuna
    print("search benchmark: %s, %s, %d CPUs, %s; LuaJIT tunelua, Optuna %s" % (
        platform.node(), platform.processor() or platform.machine(), os.cpu_count(),
        time.strftime("%Y-%m-%d %H:%M"), optuna.__version__))
    cases = [("branin", N), ("hartmann6", N)]
    # label, runner, method, options; the legend below says what each row ran with
    methods = [("tunelua random", tunelua_run, "random", "{}"),
               ("tunelua tpe", tunelua_run, "tpe", "{}"),
               ("tunelua tpe univariate", tunelua_run, "tpe", "{ multivariate = false }"),
               ("tunelua tpe normalised", tunelua_run, "tpe",
                "{ multivariate = false, bandwidth_weights = false }"),
               ("tunelua tpe multivar", tunelua_run, "tpe",
                "{ multivariate_bandwidth = \"optuna\", prior_weight = 1 }"),
               ("optuna random", optuna_run, "random", "{}"),
               ("optuna tpe", optuna_run, "tpe", "{}"),
               ("optuna tpe multivar", optuna_run, "tpe", "multivariate")]
    if ONLY_TPE:
        methods = [m for m in methods if m[0] in ("tunelua tpe", "optuna tpe")]
    results = {}
    print("\nregret over %d seeds (%s), median [q1, q3], max" % (len(SEEDS), "1-%d" % SEEDS[-1]))
    print("%-12s %-22s %6s %12s %22s %10s %8s" % ("function", "method", "evals", "median",
                                                  "[q1, q3]", "max", "time s"))
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        rows = []
        for fn, n in cases:
            for label, run, m, opts in methods:
                rows.append((fn, n, label, run, m, opts))
        mf = [("tunelua tpe (fifo)", tunelua_run, "tpe", MF_FULL),
              ("tunelua hyperband", tunelua_run, "hyperband", MF_TRIALS),
              ("tunelua bohb", tunelua_run, "bohb", MF_TRIALS),
              ("optuna tpe (full)", None, "tpe", MF_FULL)]
        for fn, n, label, run, m, opts in rows:
            t0 = time.time()
            regrets = list(pool.map(lambda s: run(fn, m, s, n, opts), SEEDS))
            results[(fn, label)] = regrets
            med, q1, q3 = quartiles(regrets)
            print("%-12s %-22s %6d %12.5g [%9.4g, %9.4g] %10.4g %8.1f" % (
                fn, label, n, med, q1, q3, max(regrets), time.time() - t0))
        print(LEGEND)
        if ONLY_TPE:
            return targets(results, None)
        print("\nmulti-fidelity Branin (max_t = %d, eta = 3): same budget, %d iterations = %d "
              "full evaluations; regret at full fidelity" % (MAX_T, MF_BANDS * 357, MF_FULL))
        for label, run, m, n in mf:
            t0 = time.time()
            if run is None:
                regrets = list(pool.map(lambda s: optuna_run("branin", m, s, n), SEEDS))
            else:
                regrets = list(pool.map(lambda s: run("branin_mf", m, s, n), SEEDS))
            med, q1, q3 = quartiles(regrets)
            print("%-12s %-22s %6d %12.5g [%9.4g, %9.4g] %10.4g %8.1f" % (
                "branin_mf", label, n, med, q1, q3, max(regrets), time.time() - t0))
    print("\nsuggestion latency, 8 float parameters, median ms per suggestion")
    print("%-8s %12s %12s %8s" % ("n", "tunelua tpe", "optuna tpe", "speedup"))
    speedup = {}
    for n in (100, 1000):
        a, b = tunelua_latency(n), optuna_latency(n)
        speedup[n] = b / a
        print("%-8d %12.3f %12.3f %7.0fx" % (n, a, b, b / a))
    return targets(results, speedup[1000])


def targets(results, speedup):
    ok = True
    if speedup is not None:
        print("target speed at n = 1000: %.0fx >= 30x: %s" % (
            speedup, "yes" if speedup >= 30 else "NO"))
        ok = speedup >= 30
    for fn in ("branin", "hartmann6"):
        t, o = (statistics.median(results[(fn, "tunelua tpe")]),
                statistics.median(results[(fn, "optuna tpe")]))
        print("target %-10s tunelua tpe median %.4g <= optuna tpe %.4g: %s" % (
            fn, t, o, "yes" if t <= o else "NO"))
        ok = ok and t <= o
        wins = sum(a <= b for a, b in zip(results[(fn, "tunelua tpe")],
                                          results[(fn, "optuna tpe")]))
        print("       %-10s seeds where tunelua tpe's regret <= optuna tpe's: %d of %d" % (
            fn, wins, len(SEEDS)))
    worst = max(r + BRANIN_MIN for r in results[("branin", "tunelua tpe")])
    print("target branin best < 0.7 for every seed (worst %.4g): %s" % (
        worst, "yes" if worst < 0.7 else "NO"))
    return 0 if ok and worst < 0.7 else 1


if __name__ == "__main__":
    sys.exit(main())

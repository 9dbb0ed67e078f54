#!/usr/bin/python3
"""B6 memory: engine peak RSS (ru_maxrss from wait4; the simulate executor starts no child
process) with TRIALS finished trials of one result each, minus the peak RSS of a run with
one trial (the engine cannot run zero). Figure: bytes per trial."""
from common import build, cleanup, emit, param, rnd, run_tunelua, workdir

TRIALS = param("B6_TRIALS", 100000)
SHM = param("B6_SHM", 1)  # 1: work directories under /dev/shm (tmpfs), see workdir()
TARGET = 2048

EXP = """
local tune = require "tunelua"
return tune.experiment {
  name = "b6",
  trainer = { simulate = function(config, it) return { loss = config.lr / it, done = true } end,
              iteration_time = 1 },
  config = { lr = tune.loguniform(1e-4, 1e-1), wd = tune.uniform(0, 0.3),
             act = tune.choice { "relu", "tanh" }, layers = tune.randint(1, 5) },
  num_samples = %d,
  metric = "loss", mode = "min", seed = 1,
}
"""


def rss(n):
    d = workdir("b6", SHM)
    try:
        r = run_tunelua(d, EXP % n, ["--cpus", "8"])
        return r["maxrss_kb"] * 1024, r["wall"]
    finally:
        cleanup(d)


def main():
    build()
    base, _ = rss(1)
    full, wall = rss(TRIALS)
    per = (full - base) / TRIALS
    emit({"bench": "B6", "name": "memory", "figure": rnd(per), "unit": "bytes/trial",
          "peak_rss_mb": rnd(full / 2**20), "floor": rnd(base / 2**20), "floor_what": "peak RSS MiB, 1 trial",
          "ratio": rnd(per / TARGET), "target": "<= %d bytes/trial" % TARGET, "ok": per <= TARGET,
          "wall_s": rnd(wall), "params": {"trials": TRIALS, "shm": SHM}})


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""B7 startup: from exec of tunelua (time.time() taken just before the fork+exec, so the
launcher's own fork is counted against tunelua) to the journal's first `started` event,
for a one-trial experiment with the C trainer. REPEAT runs; median and min reported.
Floor: the same fork+exec+wait of `/bin/true`, from the same launcher."""
import json
import statistics
import subprocess
import time

from common import build, cleanup, emit, journal, param, rnd, run_tunelua, workdir

REPEAT = param("B7_REPEAT", 20)
TARGET_MS = 20.0

EXP = """
local tune = require "tunelua"
return tune.experiment {
  name = "b7",
  trainer = { cmd = { %s } },
  config = { lr = tune.loguniform(1e-4, 1e-1), reports = 1 },
  metric = "loss", mode = "min", seed = 1,
}
"""


def main():
    reporter, _ = build()
    lat = []
    for _ in range(REPEAT):
        d = workdir("b7")
        try:
            r = run_tunelua(d, EXP % json.dumps(reporter))
            t = next(e["t"] for e in journal(r["dir"]) if e["ev"] == "started")
            lat.append((t - r["t_launch"]) * 1e3)
        finally:
            cleanup(d)
    fl = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        subprocess.run(["/bin/true"])
        fl.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(lat)
    emit({"bench": "B7", "name": "startup", "figure": rnd(med), "unit": "ms exec->first started (median)",
          "min_ms": rnd(min(lat)), "max_ms": rnd(max(lat)),
          "floor": rnd(statistics.median(fl)), "floor_what": "ms fork+exec+wait of /bin/true (median)",
          "ratio": rnd(med / statistics.median(fl)), "target": "<= %g ms" % TARGET_MS,
          "ok": med <= TARGET_MS, "params": {"repeat": REPEAT}})


if __name__ == "__main__":
    main()

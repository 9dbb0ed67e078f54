#!/usr/bin/python3
"""B8 durability cost: B3 (C client, back to back) with the journal's fsync on (the
default: a result is acknowledged once its journal line is on disk; group commit) and
off (--no-fsync). Figure: results/s with fsync / results/s without. If the engine has
no --no-fsync option, prints a placeholder line."""
import subprocess

import b3_engine_cost as b3
from common import TUNELUA, build, emit, rnd


def main():
    build()
    h = subprocess.run([TUNELUA, "--help"], capture_output=True, text=True)
    if "--no-fsync" not in h.stdout + h.stderr:
        emit({"bench": "B8", "name": "durability cost", "figure": None,
              "note": "needs the journal fsync option (issue 7)"})
        return
    on = b3.run([], python=False)["c"]
    off = b3.run(["--no-fsync"], python=False)["c"]
    emit({"bench": "B8", "name": "durability cost", "figure": rnd(on["results_per_s"]),
          "unit": "results/s, fsync on", "floor": rnd(off["results_per_s"]),
          "floor_what": "results/s, --no-fsync", "ratio": rnd(on["results_per_s"] / off["results_per_s"]),
          "target": "(none; the cost of durability)", "fsync_on": on, "fsync_off": off})


if __name__ == "__main__":
    main()

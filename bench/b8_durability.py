#!/usr/bin/python3
"""B8 durability cost: B3 (C client, back to back) in each of the journal's sync modes:
`--fsync always` (a result is acknowledged once its journal line is on disk; group
commit), `periodic` (the default: acknowledged once written, synced once a second) and
`never`. Figure: results/s with `always`; floor: results/s of the default; ratio: the
first over the second, the price of surviving a power loss as well as a crash."""
import b3_engine_cost as b3
from common import build, emit, rnd


def main():
    build()
    modes = {m: b3.run(["--fsync", m], python=False)["c"] for m in ("always", "periodic", "never")}
    a, p = modes["always"], modes["periodic"]
    emit({"bench": "B8", "name": "durability cost", "figure": rnd(a["results_per_s"]),
          "unit": "results/s, --fsync always", "floor": rnd(p["results_per_s"]),
          "floor_what": "results/s, --fsync periodic (default)",
          "ratio": rnd(a["results_per_s"] / p["results_per_s"]),
          "target": "(none; the cost of durability)", "modes": modes})


if __name__ == "__main__":
    main()

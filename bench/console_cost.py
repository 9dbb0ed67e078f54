#!/usr/bin/python3
"""Console cost: the B3 load (TRAINERS C reporters sending results back to back for
DURATION_S seconds) run twice in one go, with --quiet (the floor) and with the live table
on a pseudo-terminal of COLS x ROWS (a reader drains it). Figures: the engine's own CPU
per result (utime+stime of the engine, trainers excluded) of each, the difference, and the
number of redraws. Not part of bench/run.sh; run it alone: bench/console_cost.py.

With --callgrind (valgrind's instruction counts: exact, the same on a busy machine) it runs
the live-table case once under callgrind and prints the instructions per redraw
(tl_console_tick, inclusive, over the ticks) against the instructions per result
(tl_proto_line, inclusive: parse, journal, files, scheduler, reply)."""
import json
import os
import pty
import re
import sys
import struct
import subprocess
import termios
import threading
import fcntl
import time

from common import TUNELUA, build, cleanup, emit, journal, param, rnd, workdir, _proc_cpu

TRAINERS = param("CONSOLE_TRAINERS", 2)
DURATION_S = param("CONSOLE_DURATION_S", 5.0)
COLS = param("CONSOLE_COLS", 120)
ROWS = param("CONSOLE_ROWS", 40)
REPEAT = param("CONSOLE_REPEAT", 2)

EXP = """
local tune = require "tunelua"
return tune.experiment {
  name = "console-cost",
  trainer = { cmd = { %s }, resources = { cpu = 1 } },
  config = { reports = 0, duration = %r, lr = tune.loguniform(1e-4, 1e-1),
             opt = { kind = tune.choice { "sgd", "adam" } } },
  num_samples = %d,
  metric = "loss", mode = "min",
  seed = 1,
}
"""


def once(reporter, tty, wrap=()):
    d = workdir("console")
    try:
        exp = os.path.join(d, "exp.lua")
        with open(exp, "w") as f:
            f.write(EXP % (json.dumps(reporter), DURATION_S, TRAINERS))
        run = os.path.join(d, "run")
        cmd = list(wrap) + [TUNELUA, exp, "--dir", run, "--cpus", str(TRAINERS)]
        out, drained, reader = subprocess.DEVNULL, [0, 0], None
        if tty:
            master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
            out = slave

            def drain():
                while True:
                    try:
                        b = os.read(master, 65536)
                    except OSError:
                        return
                    if not b:
                        return
                    drained[0] += len(b)
                    drained[1] += b.count(b"A\r")  # cursor up: one per redraw
            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
        else:
            cmd.append("--quiet")
        p = subprocess.Popen(cmd, cwd=d, stdout=out, stderr=subprocess.DEVNULL)
        if tty:
            os.close(slave)
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        cpu, _ = _proc_cpu(p.pid)
        p.wait()
        if reader:
            reader.join(2)
            os.close(master)
        n = sum(1 for e in journal(run) if e["ev"] == "result")
    finally:
        cleanup(d)
    return {"us_per_result": cpu / n * 1e6, "results": n, "bytes": drained[0], "redraws": drained[1]}


def inclusive(annotated, fn):
    """Inclusive instructions of fn (engine/FILE.c:fn) in callgrind_annotate --inclusive=yes."""
    m = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S+:%s \[" % fn, annotated, re.M)
    return int(m.group(1).replace(",", "")) if m else None


def callgrind(reporter):
    out = os.path.join(workdir("console-cg"), "callgrind.out")
    r = once(reporter, True, ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out])
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                         capture_output=True, text=True, check=True).stdout
    os.remove(out)
    os.rmdir(os.path.dirname(out))
    tick, line = inclusive(ann, "tl_console_tick"), inclusive(ann, "tl_proto_line")
    # cursor-ups on the terminal: one per redraw after the first, and the final clear
    redraws = r["redraws"]
    emit({"bench": "console", "name": "live table cost (callgrind)",
          "figure": tick // redraws, "unit": "instructions per redraw (tl_console_tick)",
          "floor": line // r["results"], "floor_unit": "instructions per result (tl_proto_line)",
          "ratio": rnd(tick / redraws / (line / r["results"])), "redraws": redraws,
          "results": r["results"], "console_share": rnd(tick / (tick + line))})


def main():
    reporter, _ = build()
    if "--callgrind" in sys.argv[1:]:
        return callgrind(reporter)
    quiet, live = [], []
    for _ in range(REPEAT):  # interleaved, so that a change of load hits both alike
        quiet.append(once(reporter, False))
        live.append(once(reporter, True))
    q = min(r["us_per_result"] for r in quiet)
    t = min(r["us_per_result"] for r in live)
    emit({"bench": "console", "name": "live table cost",
          "figure": rnd(t), "unit": "engine CPU us/result with the live table (%dx%d pty)" % (COLS, ROWS),
          "floor": rnd(q), "floor_unit": "engine CPU us/result with --quiet",
          "ratio": rnd(t / q), "results": [r["results"] for r in quiet + live],
          "redraws": [r["redraws"] for r in live], "tty_bytes": [r["bytes"] for r in live],
          "load": open("/proc/loadavg").read().split()[:3], "time": time.strftime("%Y-%m-%d %H:%M:%S")})


if __name__ == "__main__":
    main()

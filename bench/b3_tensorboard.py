#!/usr/bin/python3
"""What TensorBoard logs cost the engine: B3 (C reporters back to back, every log on) with
the events files on and with `logs = { tensorboard = false }` (journal without fsync by
default: ARGS), ROUNDS times each,
alternating, so that both see the same machine; figures are medians. Also the CPU of one
result's record alone (bench/tfevents_encode.c: tl_tfevents_encode vs tl_json_print of the
same result, result.jsonl's line, as the peer measured in the same run)."""
import os
import statistics
import subprocess

import b3_engine_cost as b3
from common import BUILD, ROOT, build, emit, param, rnd

ROUNDS = param("B3TB_ROUNDS", 3)
ENCODE_N = param("B3TB_ENCODE_N", 2000000)
# fsync of the journal makes the engine wait on the disk, whose noise swamps a difference
# of a microsecond; B8 measures fsync itself
ARGS = param("B3TB_ARGS", "--no-fsync")

EXP_ON = b3.EXP
# the same experiment with the events files off (the field goes before the closing brace)
EXP_OFF = EXP_ON.rstrip()[:-1] + "  logs = { tensorboard = false },\n}\n"


def encode_cost():
    exe = os.path.join(BUILD, "bench-tfevents-encode")
    objs = [os.path.join(BUILD, f) for f in sorted(os.listdir(BUILD))
            if f.endswith(".o") and f != "main.o"]
    cflags = subprocess.run(["pkg-config", "--cflags", "--libs", "luajit", "libuv", "libcjson",
                             "hwloc"], capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
                    "-Iengine", "-o", exe, "bench/tfevents_encode.c"] + objs + cflags + ["-lm"],
                   cwd=ROOT, check=True)
    import json
    out = subprocess.run([exe, str(ENCODE_N)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    build()
    on, off = [], []
    for _ in range(ROUNDS):
        for exp, acc in ((EXP_ON, on), (EXP_OFF, off)):
            b3.EXP = exp
            acc.append(b3.measure([os.path.join(BUILD, "bench-reporter")], ARGS.split()))
    b3.EXP = EXP_ON
    us_on = statistics.median(m["engine_us_per_result"] for m in on)
    us_off = statistics.median(m["engine_us_per_result"] for m in off)
    rps_on = statistics.median(m["results_per_s"] for m in on)
    rps_off = statistics.median(m["results_per_s"] for m in off)
    enc = encode_cost()
    emit({"bench": "B3-tensorboard", "name": "TensorBoard logs cost",
          "figure": rnd(us_on - us_off), "unit": "engine CPU us/result added by events files",
          "on_us_per_result": us_on, "off_us_per_result": us_off,
          "on_results_per_s": rps_on, "off_results_per_s": rps_off,
          "encode_ns": enc["encode_ns"], "record_bytes": enc["record_bytes"],
          "json_print_ns_peer": enc["json_print_ns"],
          "rounds": {"on": on, "off": off},
          "params": {"rounds": ROUNDS, "args": ARGS, "trainers": b3.TRAINERS, "duration_s": b3.DURATION_S}})


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Renders bench/results.jsonl (one JSON line per benchmark) as bench/RESULTS.md.
Usage: report.py RESULTS.jsonl LOAD_BEFORE LOAD_AFTER SECONDS"""
import datetime
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*cmd):
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, float):
        return "%.4g" % v
    return str(v)


def rounds(r):
    """B1's rounds, when it made more than one: how many, and each round's engine figure."""
    rs = r.get("rounds") or []
    return ("; medians of %d rounds, engine %s" % (
        len(rs), ", ".join(fmt(q["figure"]) for q in rs))) if len(rs) > 1 else ""


def main():
    path, load0, load1, secs = sys.argv[1:5]
    recs = [json.loads(line) for line in open(path) if line.strip()]
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    # the results files themselves are being rewritten by this run: not a change to the code
    dirty = " (+ uncommitted changes)" if sh("git", "status", "--porcelain", "--untracked-files=no",
                                             "--", ".", ":!bench/RESULTS.md", ":!bench/results.jsonl") else ""
    p = print
    p("# tunelua benchmark results\n")
    p("Written by `make bench` (bench/run.sh). How to read it: docs/performance.md.\n")
    p("| | |\n| --- | --- |")
    p("| date | %s |" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"))
    p("| commit | %s%s |" % (sh("git", "rev-parse", "--short", "HEAD"), dirty))
    p("| machine | %s CPUs (`nproc`), %s, %.0f GiB RAM, %s |" % (
        sh("nproc"), cpu_model(), mem, sh("uname", "-sr")))
    p("| load average | %s before, %s after (other work on the machine skews the figures) |" % (load0, load1))
    p("| duration | %s s |" % secs)
    p("")
    p("## Summary\n")
    p("| bench | figure | unit | floor / peer (same run) | ratio | target | met |")
    p("| --- | --- | --- | --- | --- | --- | --- |")
    for r in recs:
        if "error" in r:
            p("| %s | error: %s | | | | | |" % (r["bench"], r["error"]))
            continue
        if r["bench"] == "B5":
            p("| B5 decisions | see below | us/on_result, us/suggest | empty scheduler/searcher "
              "subtracted; Optuna below | | (none) | |")
            continue
        if r.get("figure") is None:
            p("| %s %s | %s | | | | | |" % (r["bench"], r["name"], r.get("note", "")))
            continue
        floor = r.get("floor")
        if floor is None and "results_per_s" in r:
            floor, r["floor_what"] = r["results_per_s"], "results/s; no floor: the target is absolute"
        fw = r.get("floor_what") or ("ideal %s s; bare spawn floor %s s" % (
            fmt(r.get("ideal_s")), fmt(r.get("floor_s"))) if "ideal_s" in r else "")
        if "files_floor" in r:
            fw += "; with a trial's six files: %s x ideal, engine / it %s" % (
                fmt(r["files_floor"]), fmt(r["ratio_files_floor"]))
        if "server_floor" in r:
            fw += "; a bare protocol peer: %s x ideal, engine / it %s" % (
                fmt(r["server_floor"]), fmt(r["ratio_server_floor"]))
        if "fs" in r:
            fw += "; on %s" % r["fs"]
        fw += rounds(r)
        if "shm" in r and r["bench"] == "B1":
            s = r["shm"]
            fw += ("; all of it again on tmpfs (/dev/shm): **%s** x ideal, floors %s bare, %s with "
                   "the files, %s the protocol peer, engine / files floor %s, engine / peer %s%s") % (
                fmt(s["figure"]), fmt(s["floor"]), fmt(s["files_floor"]),
                fmt(s.get("server_floor")), fmt(s["ratio_files_floor"]),
                fmt(s.get("ratio_server_floor")), rounds(s))
        if "shm" in r and r["bench"] == "B4":
            s = r["shm"]
            fw += "; the engine again on tmpfs (/dev/shm): **%s** ms (median %s), ratio %s" % (
                fmt(s["mean_ms"]), fmt(s["median_ms"]), fmt(s["ratio"]))
        p("| %s %s | %s | %s | %s (%s) | %s | %s | %s |" % (
            r["bench"], r["name"], fmt(r["figure"]), r.get("unit", ""), fmt(floor), fw,
            fmt(r.get("ratio")), r.get("target", ""), fmt(r.get("ok"))))
    p("")
    p("Ratios: B1, B2 `ratio` = wall / the bare-spawn floor's wall (the figure itself is "
      "wall / ideal); B3 = engine CPU per result / the bare server's; B4 = mean latency / bare spawn+wait; B6 = bytes per trial / 2 KiB; "
      "B7 = startup / fork+exec of /bin/true; B8 = results/s with `--fsync always` / with the default.\n")
    for r in recs:
        if r.get("bench") == "B3" and "c" in r:
            p("## B3 engine cost\n")
            names = {"c": "c", "python": "python", "wide": "c, %s trainers" % r.get("wide", {}).get("trainers")}
            p("| client | results/s | engine CPU us/result | floor us/result (results/s) | engine / floor | args |")
            p("| --- | --- | --- | --- | --- | --- |")
            for k in ("c", "python", "wide"):
                if k in r:
                    x = r[k]
                    fl = x.get("floor")
                    p("| %s | %s | %s | %s | %s | `%s` |" % (
                        names[k], fmt(x["results_per_s"]), fmt(x["engine_us_per_result"]),
                        "%s (%s)" % (fmt(fl["us_per_result"]), fmt(fl["results_per_s"])) if fl else "–",
                        fmt(x["engine_us_per_result"] / fl["us_per_result"]) if fl else "–",
                        r["params"]["args"] or "(defaults)"))
            p("\n%d trainers back to back for %s s each (the wide row: %s); target %s. Floor: "
              "bench/floor_stream.c, a bare epoll server with the same trainers that journals "
              "each turn's reports with one write(2) and answers them, measured just before.\n" % (
                  r["params"]["trainers"], r["params"]["duration_s"],
                  r.get("wide", {}).get("trainers", "–"), r["target"]))
        if r.get("bench") == "B8" and "modes" in r:
            p("## B8 durability cost\n")
            p("| journal | results/s | engine CPU us/result |")
            p("| --- | --- | --- |")
            for m, what in (("always", "`--fsync always` (synced before each decision)"),
                            ("periodic", "`--fsync periodic` (default: written before, synced each second)"),
                            ("never", "`--fsync never`")):
                p("| %s | %s | %s |" % (what, fmt(r["modes"][m]["results_per_s"]),
                                        fmt(r["modes"][m]["engine_us_per_result"])))
            p("")
        if r.get("bench") == "B5" and "schedulers" in r:
            sizes = [str(s) for s in r["params"]["sizes"]]
            p("## B5 decisions (simulate executor, %s results per trial, %s trials at a time)\n" % (
                r["params"]["iters"], r["params"]["cpus"]))
            p("Engine CPU us per `on_result` (schedulers) or per `suggest` (searchers), less the "
              "empty scheduler/searcher of the same run; user CPU, 10 ms ticks, so +-10 ms / "
              "(results or trials).\n")
            p("| | kind | " + " | ".join("%s trials" % s for s in sizes) + " |")
            p("| --- | --- | " + " | ".join("---" for _ in sizes) + " |")
            for kind in ("schedulers", "searchers"):
                for name, v in sorted(r[kind].items()):
                    p("| %s | %s | %s |" % (name, kind[:-1], " | ".join(fmt(v.get(s)) for s in sizes)))
            b = r["baseline"]
            p("| (baseline: engine alone) | CPU us/result | %s |" % " | ".join(
                fmt(b[s]["engine_cpu_us_per_result"]) for s in sizes))
            p("| (baseline: engine alone) | wall us/result | %s |" % " | ".join(
                fmt(b[s]["engine_wall_us_per_result"]) for s in sizes))
            o = r.get("optuna")
            if o and "us_per_trial" in o:
                p("\nPeer, same run: Optuna %s, ask+tell per trial, in-memory storage, %d trials, same "
                  "4-parameter space: %s.\n" % (o["optuna"], o["trials"], ", ".join(
                      "%s %s us" % (k, fmt(v)) for k, v in o["us_per_trial"].items())))
            elif o:
                p("\nOptuna: %s\n" % o.get("error"))
    p("## Raw lines\n")
    p("```")
    for r in recs:
        p(json.dumps(r))
    p("```")


if __name__ == "__main__":
    main()

"""Helpers shared by the bench/ scripts (stdlib only; run with /usr/bin/python3).

Every benchmark script imports this, has its parameters at the top (each can be
overridden by an environment variable of the same name, e.g. B1_TRIALS=200), and prints
one JSON line: {"bench": "B1", "figure": ..., "unit": ..., "floor": ..., "ratio": ...,
"target": ..., ...}.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
BUILD = os.path.join(ROOT, "build")
TUNELUA = os.path.join(ROOT, "tunelua")
PYTHON = "/usr/bin/python3"  # the Debian python (optuna is a Debian package)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def param(name, default):
    """A parameter, overridable by the environment variable NAME."""
    v = os.environ.get(name)
    if v is None:
        return default
    return type(default)(v)


def build():
    """make ./tunelua (quietly) and compile the bench C programs into build/ when stale."""
    subprocess.run(["make", "-s", "-C", ROOT, "tunelua"], check=True,
                   stdout=subprocess.DEVNULL)
    progs = {
        "bench-reporter": (["bench/trainers/reporter.c", "trainers/c/tunelua.h"],
                           ["-Itrainers/c", "bench/trainers/reporter.c"]),
        "bench-floor-spawn": (["bench/floor_spawn.c"], ["bench/floor_spawn.c"]),
        "bench-floor-stream": (["bench/floor_stream.c"], ["bench/floor_stream.c"]),
    }
    os.makedirs(BUILD, exist_ok=True)
    for out, (deps, args) in progs.items():
        o = os.path.join(BUILD, out)
        if os.path.exists(o) and all(os.path.getmtime(o) >= os.path.getmtime(
                os.path.join(ROOT, d)) for d in deps):
            continue
        subprocess.run(["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", o] + args,
                       cwd=ROOT, check=True)
    return os.path.join(BUILD, "bench-reporter"), os.path.join(BUILD, "bench-floor-spawn")


def fs_of(path):
    """The file system under path: its type, and for ext4 whether it has a journal."""
    st = os.stat(path)
    kind = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True,
                          text=True).stdout.strip()
    try:
        dev = os.path.basename(os.path.realpath("/sys/dev/block/%d:%d" % (
            os.major(st.st_dev), os.minor(st.st_dev))))
        with open("/sys/fs/ext4/%s/journal_task" % dev) as f:
            kind = "ext4, " + ("no journal" if "none" in f.read() else "journaled")
    except OSError:
        pass
    return kind


def shm_dir():
    """/dev/shm when it is there to write in (tmpfs: a file system without history), else None."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def workdir(tag, shm=False):
    """A fresh work directory where tempfile puts it (TMPDIR, else /tmp), or with shm under
    /dev/shm when it can be written (for benchmarks of the engine's own work, whose trial
    directories would otherwise measure the disk's state: docs/performance.md)."""
    return tempfile.mkdtemp(prefix="tunelua-bench-%s-" % tag, dir=shm_dir() if shm else None)


def cleanup(d):
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


def _proc_cpu(pid):
    """utime+stime (s) of a process (all its threads, not its children) and its peak RSS."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[11]) / CLK_TCK


def run_tunelua(d, exp_text, args=(), env=None, perf=None, timeout=None):
    """Runs ./tunelua on an experiment file in directory d (experiment in d/exp.lua, results
    in d/run). Returns wall (exec to exit), the engine's own CPU seconds (utime+stime of
    the engine process and its threads, read from /proc while it is a zombie, so its
    trainers are not counted), peak RSS (KiB, from wait4: the largest of the engine and
    its children) and the launch time (time.time() just before exec)."""
    exp = os.path.join(d, "exp.lua")
    with open(exp, "w") as f:
        f.write(exp_text)
    run = os.path.join(d, "run")
    cmd = [TUNELUA, exp, "--dir", run, "--quiet"] + list(args)
    e = dict(os.environ)
    e.update(env or {})
    t_launch = time.time()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=d, env=e, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(d, "engine.stderr"), "w"))
    perf_p = None
    if perf:
        perf_p = subprocess.Popen(["perf", "record", "-q", "-g", "-F", "999", "-p", str(p.pid),
                                   "-o", perf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    timer = None
    if timeout:
        import threading
        timer = threading.Timer(timeout, p.kill)
        timer.start()
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    if timer:
        timer.cancel()
    wall = time.perf_counter() - t0
    cpu, utime = _proc_cpu(p.pid)
    _, status, ru = os.wait4(p.pid, 0)
    if perf_p:
        perf_p.wait()
    rc = os.waitstatus_to_exitcode(status)
    if timeout and rc == -9:
        raise TimeoutError("over %g s" % timeout)
    if rc != 0:
        with open(os.path.join(d, "engine.stderr")) as f:
            sys.stderr.write(f.read()[-2000:])
        raise SystemExit("tunelua exited with %d in %s" % (rc, d))
    return {"wall": wall, "cpu": cpu, "utime": utime, "maxrss_kb": ru.ru_maxrss, "t_launch": t_launch,
            "dir": run}


def journal(run_dir):
    with open(os.path.join(run_dir, "journal.jsonl")) as f:
        for line in f:
            yield json.loads(line)


def trial_times(run_dir):
    """Each trial's journal times: {trial: {event: t of its first occurrence}}, a status
    event under its status (e.g. "TERMINATED"), and "metrics": its first result."""
    out = {}
    for e in journal(run_dir):
        k = e.get("trial")
        if not k:
            continue
        times = out.setdefault(k, {})
        times.setdefault(e["status"] if e["ev"] == "status" else e["ev"], e["t"])
        if e["ev"] == "result":
            times.setdefault("metrics", e["result"])
    return out


def emit(rec):
    print(json.dumps(rec), flush=True)


def rnd(x, n=4):
    return None if x is None else float("%.*g" % (n, x))

"""Test launcher (not a trainer): runs a command in the background with SIGINT and SIGTERM
at their defaults, writes its pid and, when it ends, its exit status.

usage: launch.py PIDFILE RCFILE STDOUT STDERR TIMEOUT -- CMD...   (CMD run through sh -c)
"""
import os
import signal
import subprocess
import sys

pidfile, rcfile, out, err, timeout = sys.argv[1:6]
cmd = " ".join(sys.argv[7:])


def defaults():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


with open(out, "wb") as fo, open(err, "wb") as fe:
    # exec: the pid we write is the engine's (or its wrapper's) own
    p = subprocess.Popen(["sh", "-c", "exec " + cmd], stdout=fo, stderr=fe,
                         stdin=subprocess.DEVNULL, preexec_fn=defaults)
    with open(pidfile + ".tmp", "w") as f:
        f.write(str(p.pid))
    os.rename(pidfile + ".tmp", pidfile)
    try:
        rc = p.wait(timeout=float(timeout))
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    if rc < 0:
        rc = 128 - rc
    with open(rcfile + ".tmp", "w") as f:
        f.write(str(rc))
    os.rename(rcfile + ".tmp", rcfile)

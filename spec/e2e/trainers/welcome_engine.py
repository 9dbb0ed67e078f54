"""A stand-in engine for the early welcome (TUNELUA_WELCOME, docs/protocol.md): starts one
trainer command with the TUNELUA_* environment and serves its connection.

usage: welcome_engine.py MODE CONFIG_JSON OUT_JSON -- CMD...
  late     TUNELUA_WELCOME holds the welcome; the one on the socket is held back until the
           trainer's first report has arrived (a client that waited for it would hang), then
           sent with a stop decision
  refused  TUNELUA_WELCOME holds the welcome; the hello is answered with an error
  differs  TUNELUA_WELCOME holds the welcome; the socket's, sent at once, has another config
  moved    TUNELUA_WELCOME holds the welcome; the socket's, sent at once, has iteration 5 (as
           when another process of the trial reported first)
  garbled  TUNELUA_WELCOME is not JSON; the socket's welcome, sent at once, is the one to use
  child    TUNELUA_WELCOME holds the welcome with pre_sleep 2, but the trainer is a child of
           the process started (sh); the socket's welcome, sent at once, has pre_sleep 0: the
           one to use
The trainer leads its own session, as the engine's do.
Writes OUT_JSON: {"received": [message types], "metrics": first report's metrics or null,
"waited": seconds from the hello to that report, "code": the trainer's exit status, "stderr":
its stderr}. Gives up after 10 s."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

mode, config, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
cmd = sys.argv[sys.argv.index("--") + 1:]
d = tempfile.mkdtemp(prefix="welcome-engine-")
path = os.path.join(d, "engine.sock")
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen(1)
server.settimeout(10)


def welcome(cfg, iteration=0):
    return json.dumps({"type": "welcome", "trial": "00000", "config": cfg, "restore": None,
                       "trial_dir": d, "shared": {}, "iteration": iteration},
                      separators=(",", ":"))


env = dict(os.environ, TUNELUA_CONNECT="unix:" + path, TUNELUA_TOKEN="tok",
           TUNELUA_TRIAL_ID="00000", TUNELUA_TRIAL_DIR=d,
           TUNELUA_WELCOME="{not json" if mode == "garbled"
           else welcome(dict(config, pre_sleep=2)) if mode == "child" else welcome(config))
env.pop("TUNELUA_PARAMS", None)
got = {"received": [], "metrics": None, "waited": None}


def serve():
    conn, _ = server.accept()
    conn.settimeout(10)
    f = conn.makefile("rwb")
    for line in f:
        msg = json.loads(line)
        got["received"].append(msg["type"])
        if msg["type"] == "hello":
            t_hello = time.monotonic()
        reply = None
        if msg["type"] == "hello" and mode == "refused":
            reply = '{"type":"error","message":"trial is not running"}'
        elif msg["type"] == "hello" and mode == "differs":
            reply = welcome(dict(config, extra=1))
        elif msg["type"] == "hello" and mode == "moved":
            reply = welcome(config, 5)
        elif msg["type"] == "hello" and mode == "garbled":
            reply = welcome(config)
        elif msg["type"] == "hello" and mode == "child":
            reply = welcome(dict(config, pre_sleep=0))
        elif msg["type"] == "report":
            if got["metrics"] is None:
                got["metrics"], got["waited"] = msg["metrics"], time.monotonic() - t_hello
            reply = welcome(config) + "\n" if mode == "late" and len(got["received"]) == 2 else ""
            reply += '{"type":"decision","action":"stop","checkpoint":false,"iteration":1}'
        if reply:
            f.write((reply + "\n").encode())
            f.flush()
        if msg["type"] == "hello" and mode == "refused":
            break
    conn.close()


t = threading.Thread(target=serve, daemon=True)
t.start()
if mode == "child":
    cmd = ["sh", "-c", '"$@"; exit $?', "sh"] + cmd
p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                   timeout=10, start_new_session=True)
t.join(10)
got.update(code=p.returncode, stderr=p.stderr)
with open(out, "w") as f:
    json.dump(got, f)

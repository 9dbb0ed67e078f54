"""A trainer that speaks the protocol directly (no client library), to pin down the
engine's side of checkpoints: x grows by config["step"] each result; its state is x.
config["mode"] picks a misbehaviour: "outside" and "missing" record bad paths,
"die_in_ckpt" dies half-way through writing its first checkpoint of its first run."""
import json
import os
import socket
import sys

sock = socket.socket(socket.AF_UNIX)
sock.connect(os.environ["TUNELUA_CONNECT"][len("unix:"):])
f = sock.makefile("rwb")


def send(m):
    f.write((json.dumps(m) + "\n").encode())
    f.flush()


def recv():
    line = f.readline()
    if not line:
        sys.exit(9)
    return json.loads(line)


send({"type": "hello", "protocol": 1, "trial": os.environ["TUNELUA_TRIAL_ID"],
      "token": os.environ["TUNELUA_TOKEN"]})
w = recv()
cfg = w["config"]
mode = cfg.get("mode", "ok")
sys.stderr.write("welcome " + json.dumps(w) + "\n")
x = 0
if w["restore"]:
    with open(os.path.join(w["restore"], "state.json")) as fh:
        x = json.load(fh)["x"]
for name, path in w["shared"].items():
    with open(path) as fh:
        sys.stderr.write("shared %s %s\n" % (name, fh.read().strip()))
ckpts = 0
while True:
    x += cfg["step"]
    send({"type": "report", "metrics": {"x": x}})
    d = recv()
    if d["checkpoint"]:
        ckpts += 1
        tmp = os.path.join(w["trial_dir"], "checkpoints", "tmp-%d-%d" % (os.getpid(), ckpts))
        os.makedirs(tmp)
        if mode == "die_in_ckpt" and w["iteration"] == 0:
            with open(os.path.join(tmp, "state.json"), "w") as fh:
                fh.write('{"x": ')  # half written
            sys.exit(1)
        with open(os.path.join(tmp, "state.json"), "w") as fh:
            json.dump({"x": x}, fh)
        if mode == "outside":
            tmp = "/tmp"
        elif mode == "missing":
            tmp = tmp + "-nowhere"
        send({"type": "checkpoint", "path": tmp})
        ok = recv()
        sys.stderr.write("recorded " + json.dumps(ok) + "\n")
        if ok["type"] != "checkpoint_ok":
            sys.exit(1)
    if d["action"] != "continue":
        break

"""A trainer that speaks the protocol by hand to break it (docs/protocol.md).

usage: raw.py garbage|huge|wrongtoken
  garbage     hello, then a line that is not JSON
  huge        hello, then a report line over 1 MiB
  wrongtoken  hello with a wrong token
After a violation it waits (the engine is expected to kill its process group)."""
import json
import os
import socket
import sys
import time

what = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["TUNELUA_CONNECT"].partition(":")[2])
f = s.makefile("rwb")


def send(raw):
    f.write(raw)
    f.flush()


def reply():
    line = f.readline()
    return json.loads(line) if line else {"type": "eof"}


token = os.environ["TUNELUA_TOKEN"] if what != "wrongtoken" else "not-the-token"
send((json.dumps({"type": "hello", "protocol": 1, "trial": os.environ["TUNELUA_TRIAL_ID"],
                  "token": token, "pid": os.getpid()}) + "\n").encode())
msg = reply()
if msg["type"] != "welcome":
    sys.stderr.write("raw.py: engine said %s: %s\n" % (msg["type"], msg.get("message")))
    sys.exit(1)
if what == "garbage":
    send(b"this is { not json\n")
elif what == "huge":
    pad = "x" * (1024 * 1024 + 100)
    send((json.dumps({"type": "report", "metrics": {"loss": 1.0, "pad": pad}}) + "\n").encode())
msg = reply()
sys.stderr.write("raw.py: engine said %s: %s\n" % (msg["type"], msg.get("message")))
sys.stderr.flush()
time.sleep(20)

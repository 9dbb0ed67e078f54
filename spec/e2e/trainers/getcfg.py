"""Prints a config value of this trial (dotted path, arg 1) for shell trainers: one
hello/welcome on its own connection, closed without `done` (docs/protocol.md allows
reconnecting). Strings print bare, other values as JSON."""
import json
import os
import socket
import sys

where = os.environ["TUNELUA_CONNECT"].partition(":")[2]
s = socket.socket(socket.AF_UNIX)
s.connect(where)
f = s.makefile("rwb")
f.write((json.dumps({"type": "hello", "protocol": 1, "trial": os.environ["TUNELUA_TRIAL_ID"],
                     "token": os.environ["TUNELUA_TOKEN"], "pid": os.getpid()}) + "\n").encode())
f.flush()
msg = json.loads(f.readline() or '{"type":"error","message":"connection closed"}')
if msg["type"] != "welcome":
    sys.exit("getcfg: " + str(msg.get("message")))
v = msg["config"]
for k in sys.argv[1].split("."):
    v = v[k]
print(v if isinstance(v, str) else json.dumps(v))

"""Runs on a Slurm node: first dials the engine's TCP address (TUNELUA_CONNECT) with a
wrong token and records what the engine answers, then reports that answer through the
client library with the right token."""
import json
import os
import socket

import tunelua as tune

host, port = os.environ["TUNELUA_CONNECT"][len("tcp:"):].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
hello = {"type": "hello", "protocol": 1, "trial": os.environ["TUNELUA_TRIAL_ID"],
         "token": "not-the-token"}
s.sendall((json.dumps(hello) + "\n").encode())
f = s.makefile("rb")
reply = json.loads(f.readline() or b"null")
closed = f.readline() == b""
s.close()
tune.report(refused=reply.get("message") if reply else None, closed=closed,
            connect=os.environ["TUNELUA_CONNECT"], node=os.environ.get("SLURMD_NODENAME"))

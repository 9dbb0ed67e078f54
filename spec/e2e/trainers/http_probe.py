"""HTTP checks of the live dashboard, as a careless or hostile client would talk to it.

usage: http_probe.py HOST PORT [TOKEN]
Prints one JSON object: the status code (or "closed") of each check; "after_*" checks
prove the server still answers a normal request after the abuse.
"""
import json
import socket
import sys
import time

HOST, PORT = sys.argv[1], int(sys.argv[2])
QUERY = "?token=" + sys.argv[3] if len(sys.argv) > 3 else ""


def connect():
    return socket.create_connection((HOST, PORT), timeout=15)


def status_of(sock):
    """The status code of the answer on sock, or "closed"."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[0].startswith(b"HTTP/1.") else "closed"


def send(raw):
    s = connect()
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return status_of(s)


def get(path):
    return send(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())


out = {}
out["page"] = get("/" + QUERY)
out["data"] = get("/data.json" + QUERY)
out["head"] = send(("HEAD /data.json%s HTTP/1.1\r\n\r\n" % QUERY).encode())
out["not_found"] = get("/etc/passwd" + QUERY)
out["post"] = send(("POST /%s HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" % QUERY).encode())
out["garbage"] = send(b"\x00\x01\x02 hello\r\n\r\n")
out["http09"] = send(b"GET /\r\n\r\n")
out["too_large"] = send(b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
out["no_token"] = get("/")
out["bad_token"] = get("/?token=0123")

# slow clients: more half-sent requests than the server keeps, held open
slow = []
for _ in range(40):
    s = connect()
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    slow.append(s)
time.sleep(0.3)
t0 = time.time()
out["after_slow"] = get("/data.json" + QUERY)
out["after_slow_s"] = round(time.time() - t0, 3)
for s in slow:
    s.close()
out["after_all"] = get("/" + QUERY)
print(json.dumps(out))

"""A scripted stand-in for the tunelua engine, for the Python client's tests.

FakeEngine is a thread serving one trainer connection on a Unix (or TCP)
socket in a temporary directory, which is also the trial's directory;
run_client() starts the trainer in a subprocess of the same interpreter with
the TUNELUA_* environment set, as the real engine would.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CLIENT_DIR = os.path.join(ROOT, "trainers", "python")
EXAMPLES_DIR = os.path.join(ROOT, "examples")
TIMEOUT = 10


class FakeEngine(threading.Thread):
    """Accepts one trainer connection and answers it from a script.

    `welcome` is the reply to hello (a dict sent as is). `decisions` answers
    the reports in order: dicts whose missing fields are filled in
    (action "continue", checkpoint false, the next iteration); {"hangup": True}
    closes the connection instead of answering; {"type": "error", ...} is sent
    as is. A `checkpoint` message is handled as the engine does: the directory
    must exist inside the trial directory; it is renamed to
    checkpoints/checkpoint_<iteration, 6 digits> and answered with
    checkpoint_ok, unless `checkpoint_replies` holds a scripted reply for it.
    `reset_done` gets no reply. Every message the trainer sends is kept in
    `received`, in order, until it closes; the final checkpoint paths in
    `checkpoints`."""

    def __init__(self, tmpdir, welcome=None, decisions=(), tcp=False,
                 checkpoint_replies=()):
        super().__init__(daemon=True)
        self.trial_dir = tmpdir
        self.welcome = welcome if welcome is not None else {
            "type": "welcome", "trial": "t0001", "config": {"lr": 0.01},
            "restore": None, "iteration": 0}
        self.decisions = list(decisions)
        self.checkpoint_replies = list(checkpoint_replies)
        self.received = []
        self.checkpoints = []
        self.error = None
        if tcp:
            self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.server.bind(("127.0.0.1", 0))
            self.address = "tcp:127.0.0.1:%d" % self.server.getsockname()[1]
        else:
            path = os.path.join(tmpdir, "engine.sock")
            self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.server.bind(path)
            self.address = "unix:" + path
        self.server.listen(1)
        self.server.settimeout(TIMEOUT)

    def run(self):
        try:
            conn, _ = self.server.accept()
            conn.settimeout(TIMEOUT)
            with conn, conn.makefile("rb") as reader:
                iteration = self.welcome.get("iteration") or 0
                for line in reader:
                    msg = json.loads(line.decode("utf-8"))
                    self.received.append(msg)
                    kind = msg.get("type")
                    if kind == "hello":
                        conn.sendall(self._line(self.welcome))
                        if self.welcome.get("type") == "error":
                            return
                    elif kind == "report":
                        iteration += 1
                        reply = self.decisions.pop(0) if self.decisions else {}
                        if reply.get("hangup"):
                            return
                        if reply.get("type") != "error":
                            reply = dict({"type": "decision", "action": "continue",
                                          "checkpoint": False, "iteration": iteration},
                                         **reply)
                        conn.sendall(self._line(reply))
                    elif kind == "checkpoint":
                        if self.checkpoint_replies:
                            conn.sendall(self._line(self.checkpoint_replies.pop(0)))
                        else:
                            conn.sendall(self._line(self._record(msg["path"], iteration)))
        except Exception as e:  # reported by the test through self.error
            self.error = e
        finally:
            self.server.close()

    def _record(self, path, iteration):
        root = os.path.realpath(self.trial_dir)
        if not (os.path.isabs(path) and os.path.isdir(path)
                and os.path.commonpath([root, os.path.realpath(path)]) == root):
            return {"type": "error", "message": "checkpoint %s is not a directory "
                                                "inside the trial directory" % path}
        base = os.path.join(self.trial_dir, "checkpoints", "checkpoint_%06d" % iteration)
        final, n = base, 1
        while os.path.exists(final):
            n += 1
            final = "%s-%d" % (base, n)
        os.rename(path, final)
        self.checkpoints.append(final)
        return {"type": "checkpoint_ok", "path": final, "iteration": iteration}

    @staticmethod
    def _line(msg):
        return (json.dumps(msg) + "\n").encode("utf-8")

    def types(self):
        return [m.get("type") for m in self.received]

    def metrics(self):
        return [m["metrics"] for m in self.received if m.get("type") == "report"]


def run_client(code=None, env_extra=None, engine=None, tmpdir=None, script=None):
    """Runs `code` (or the file `script`) in a subprocess with the client
    importable; returns the CompletedProcess once the engine thread ended."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNELUA_")}
    env["PYTHONPATH"] = CLIENT_DIR
    if engine is not None:
        env.update({"TUNELUA_CONNECT": engine.address, "TUNELUA_TOKEN": "s3cret-token",
                    "TUNELUA_TRIAL_ID": "t0001", "TUNELUA_TRIAL_DIR": tmpdir})
    env.update(env_extra or {})
    argv = [sys.executable, script] if script else [sys.executable, "-c", textwrap.dedent(code)]
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=TIMEOUT)
    if engine is not None:
        engine.join(TIMEOUT)
        if engine.error is not None:
            raise engine.error
    return proc


class EngineTestCase(unittest.TestCase):
    """A temporary trial directory per test, and helpers to script an engine in it."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmpdir = os.path.realpath(self._tmp.name)

    def tearDown(self):
        self._tmp.cleanup()

    def engine(self, **kw):
        e = FakeEngine(self.tmpdir, **kw)
        e.start()
        return e

    def run_with(self, engine, code=None, **kw):
        return run_client(code, engine=engine, tmpdir=self.tmpdir, **kw)

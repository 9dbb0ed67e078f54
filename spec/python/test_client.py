"""Tests of trainers/python/tunelua.py against a fake engine.

The fake engine (fake_engine.py) is a thread serving one connection on a Unix
(or TCP) socket in a temporary directory; the client runs in a subprocess of the
same interpreter with the TUNELUA_* environment set, as the real engine would
start it. The checkpoint, class API and reuse tests are in test_checkpoint.py
and test_trainable.py.

    python3 -m unittest discover -s spec/python -v
"""

import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_engine import CLIENT_DIR, HERE, EngineTestCase, FakeEngine, run_client  # noqa: E402

sys.path.insert(0, CLIENT_DIR)
import tunelua  # noqa: E402  (for the in-process encoding tests)


class ClientTest(EngineTestCase):

    def test_hello_fields_and_params(self):
        e = self.engine(welcome={"type": "welcome", "trial": "t0001",
                                 "config": {"lr": 0.01, "width": 64, "act": "relu"},
                                 "restore": "/ckpt/3", "iteration": 7})
        p = self.run_with(e, """
            import json, os, tunelua as tune
            print(json.dumps({"params": tune.params(), "id": tune.trial_id(),
                              "dir": tune.trial_dir(), "restore": tune.restore_dir(),
                              "iteration": tune.iteration(), "pid": os.getpid(),
                              "ckpt": tune.should_checkpoint()}))
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(out["params"], {"lr": 0.01, "width": 64, "act": "relu"})
        self.assertEqual(out["id"], "t0001")
        self.assertEqual(out["dir"], self.tmpdir)
        self.assertEqual(out["restore"], "/ckpt/3")
        self.assertEqual(out["iteration"], 7)
        self.assertFalse(out["ckpt"])
        hello = e.received[0]
        self.assertEqual(hello, {"type": "hello", "protocol": 1, "trial": "t0001",
                                 "token": "s3cret-token", "pid": out["pid"],
                                 "api": "function"})  # no "reuse": never sent a reset
        self.assertEqual(e.types(), ["hello", "done"])

    def test_report_continue_and_checkpoint_flag(self):
        e = self.engine(decisions=[{}, {"checkpoint": True}, {}])
        p = self.run_with(e, """
            import tunelua as tune
            tune.params()
            flags = []
            tune.report(accuracy=0.5, loss=1.0, epoch=1)
            flags.append(tune.should_checkpoint())
            tune.report({"accuracy": 0.6, "nested": {"a": [1, 2]}}, epoch=2)
            flags.append(tune.should_checkpoint())
            tune.report(accuracy=0.7, ok=True, tag="x")
            flags.append(tune.should_checkpoint())
            print(flags)
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "[False, True, False]")
        self.assertEqual(e.types(), ["hello", "report", "report", "report", "done"])
        self.assertEqual(e.received[1]["metrics"], {"accuracy": 0.5, "loss": 1.0, "epoch": 1})
        self.assertEqual(e.received[2]["metrics"],
                         {"accuracy": 0.6, "nested": {"a": [1, 2]}, "epoch": 2})
        self.assertEqual(e.received[3]["metrics"], {"accuracy": 0.7, "ok": True, "tag": "x"})

    def test_report_connects_lazily(self):
        e = self.engine()
        p = self.run_with(e, "import tunelua as tune\ntune.report(x=1)\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(e.types(), ["hello", "report", "done"])

    def test_stop_raises_and_exits_zero_quietly(self):
        e = self.engine(decisions=[{}, {"action": "stop"}])
        p = self.run_with(e, """
            import tunelua as tune
            for epoch in range(1, 11):
                tune.report(epoch=epoch)
                print("continued", epoch, flush=True)
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertEqual(p.stdout.split("\n")[:-1], ["continued 1"])
        self.assertEqual(e.types(), ["hello", "report", "report"])  # no done, no error

    def test_pause_raises_trial_stopped_with_details(self):
        # without a checkpoint request: at once (with one: see test_checkpoint.py)
        e = self.engine(decisions=[{}, {"action": "pause"}])
        p = self.run_with(e, """
            import tunelua as tune
            tune.report(epoch=1)
            try:
                tune.report(epoch=2)
            except tune.TrialStopped as s:
                print(s.action, s.iteration, s.checkpoint, tune.should_checkpoint())
            try:
                tune.report(epoch=3)   # after a stop: raises again, sends nothing
            except tune.TrialStopped as s:
                print("again", s.action)
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split("\n")[:-1], ["pause 2 False False", "again pause"])
        self.assertEqual(e.types(), ["hello", "report", "report"])

    def test_uncaught_exception_sends_error_and_exits_nonzero(self):
        e = self.engine()
        p = self.run_with(e, """
            import tunelua as tune
            tune.report(epoch=1)
            raise ValueError("diverged at lr=10")
        """)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Traceback", p.stderr)
        self.assertIn("ValueError: diverged at lr=10", p.stderr)
        self.assertEqual(e.types(), ["hello", "report", "error"])
        self.assertEqual(e.received[2]["message"], "ValueError: diverged at lr=10")

    def test_engine_error_reply_raises_protocol_error(self):
        e = self.engine(decisions=[{"type": "error", "message": "metrics must be an object"}])
        p = self.run_with(e, """
            import tunelua as tune
            try:
                tune.report(epoch=1)
            except tune.ProtocolError as err:
                print("caught:", err)
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "caught: metrics must be an object")
        self.assertEqual(e.types(), ["hello", "report"])  # no done on a closed connection

    def test_engine_error_instead_of_welcome(self):
        e = self.engine(welcome={"type": "error", "message": "bad token"})
        p = self.run_with(e, "import tunelua as tune\ntune.params()\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ProtocolError: bad token", p.stderr)
        self.assertEqual(e.types(), ["hello"])

    def test_nan_and_inf_become_null_and_item_is_used(self):
        e = self.engine()
        p = self.run_with(e, """
            import fractions, tunelua as tune
            class Scalar:                     # stands in for a numpy scalar
                def __init__(self, v): self.v = v
                def item(self): return self.v
            tune.report(loss=float("nan"), hi=float("inf"), lo=-float("inf"),
                        acc=Scalar(0.25), bad=Scalar(float("nan")), n=Scalar(3),
                        frac=fractions.Fraction(1, 4), deep={"x": [float("nan"), 1.5]})
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(e.received[1]["metrics"],
                         {"loss": None, "hi": None, "lo": None, "acc": 0.25, "bad": None,
                          "n": 3, "frac": 0.25, "deep": {"x": [None, 1.5]}})

    def test_tcp_transport(self):
        e = FakeEngine(self.tmpdir, tcp=True)
        e.start()
        p = self.run_with(e, "import tunelua as tune\nprint(tune.params()['lr'])\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "0.01")
        self.assertEqual(e.types(), ["hello", "done"])

    def test_oversized_report_raises_and_connection_stays_usable(self):
        e = self.engine()
        p = self.run_with(e, """
            import tunelua as tune
            try:
                tune.report(blob="x" * (1 << 20))
            except ValueError:
                print("too big")
            tune.report(epoch=1)
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "too big")
        self.assertEqual(e.types(), ["hello", "report", "done"])

    def test_engine_hanging_up_raises_protocol_error(self):
        e = self.engine(decisions=[{"hangup": True}])
        p = self.run_with(e, """
            import tunelua as tune
            try:
                tune.report(epoch=1)
            except tune.ProtocolError as err:
                print("caught:", err)
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "caught: the tunelua engine closed the connection")
        self.assertEqual(e.types(), ["hello", "report"])

    def test_cannot_connect_is_a_protocol_error(self):
        p = run_client("import tunelua as tune\ntune.params()\n", env_extra={
            "TUNELUA_CONNECT": "unix:" + os.path.join(self.tmpdir, "nobody.sock"),
            "TUNELUA_TOKEN": "t", "TUNELUA_TRIAL_ID": "t0001"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ProtocolError: cannot connect to the tunelua engine", p.stderr)

    def test_raw_example_in_protocol_doc_works(self):
        doc = os.path.join(HERE, "..", "..", "docs", "protocol.md")
        with open(doc, encoding="utf-8") as f:
            text = f.read()
        section = text.split("## A trainer without the client library", 1)[1]
        code = section.split("```python\n", 1)[1].split("```", 1)[0]
        e = self.engine(decisions=[{}, {"action": "stop"}])
        p = self.run_with(e, code)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(e.types(), ["hello", "report", "report"])

    def test_params_fallback_prints_reports(self):
        p = run_client("""
            import tunelua as tune
            print(tune.params()["lr"])
            tune.report(accuracy=0.5, loss=float("nan"))
            tune.report({"accuracy": 0.6})
            print(tune.should_checkpoint(), tune.restore_dir())
        """, env_extra={"TUNELUA_PARAMS": '{"lr": 0.05}'})
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split("\n")[:-1]
        self.assertEqual(lines[0], "0.05")
        self.assertTrue(lines[1].startswith("[tunelua] report "))
        self.assertEqual(json.loads(lines[1].split(" ", 2)[2]),
                         {"accuracy": 0.5, "loss": None, "training_iteration": 1})
        self.assertEqual(json.loads(lines[2].split(" ", 2)[2]),
                         {"accuracy": 0.6, "training_iteration": 2})
        self.assertEqual(lines[3], "False None")

    def test_outside_tunelua_params_raises_clear_error(self):
        p = run_client("import tunelua as tune\ntune.params()\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("RuntimeError", p.stderr)
        self.assertIn("run by the tunelua engine", p.stderr)
        self.assertIn("TUNELUA_PARAMS", p.stderr)


class EncodingTest(unittest.TestCase):
    def test_metrics_are_strict_json(self):
        m = tunelua.to_json_metrics({"a": float("nan"), "b": (1, 2.5), 3: "x"})
        self.assertEqual(m, {"a": None, "b": [1, 2.5], "3": "x"})
        line = tunelua.encode_message({"type": "report", "metrics": m})
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(line.count(b"\n"), 1)

    def test_unreportable_value_names_the_metric(self):
        with self.assertRaisesRegex(TypeError, r"metrics\.model"):
            tunelua.to_json_metrics({"model": object()})

    def test_oversized_message_is_refused(self):
        with self.assertRaises(ValueError):
            tunelua.encode_message({"type": "report", "metrics": {"x": "a" * (1 << 20)}})

    def test_parse_address(self):
        self.assertEqual(tunelua.parse_address("unix:/tmp/s"), (socket.AF_UNIX, "/tmp/s"))
        self.assertEqual(tunelua.parse_address("tcp:node1:7000"), (None, ("node1", 7000)))
        self.assertEqual(tunelua.parse_address("tcp:[::1]:7000"), (None, ("::1", 7000)))
        for bad in ("", "udp:x:1", "tcp:host", "tcp::12", "unix:"):
            with self.assertRaises(ValueError):
                tunelua.parse_address(bad)


if __name__ == "__main__":
    unittest.main()

"""Function API checkpoints, stop/pause with a checkpoint, shared objects, welcome fields."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_engine import EngineTestCase, run_client  # noqa: E402


class CheckpointTest(EngineTestCase):
    def test_checkpoint_dir_is_fresh_tmp_dir_under_trial_dir(self):
        e = self.engine(welcome={"type": "welcome", "trial": "t0001", "config": {},
                                 "restore": None, "iteration": 4})
        p = self.run_with(e, """
            import json, os, tunelua as tune
            a = tune.checkpoint_dir(); b = tune.checkpoint_dir()
            tune.report(x=1)
            c = tune.checkpoint_dir()
            print(json.dumps({"dirs": [a, b, c], "pid": os.getpid(),
                              "empty": [os.listdir(d) for d in (a, b, c)]}))
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        root = os.path.join(self.tmpdir, "checkpoints")
        pid = out["pid"]
        self.assertEqual(out["dirs"], [os.path.join(root, "tmp-4-%d-1" % pid),
                                       os.path.join(root, "tmp-4-%d-2" % pid),
                                       os.path.join(root, "tmp-5-%d-3" % pid)])
        self.assertEqual(out["empty"], [[], [], []])
        for d in out["dirs"]:
            self.assertTrue(os.path.isdir(d))

    def test_record_checkpoint_sends_path_and_returns_final_path(self):
        e = self.engine(decisions=[{}, {"checkpoint": True}, {}])
        p = self.run_with(e, """
            import os, tunelua as tune
            tune.report(x=1)
            print(tune.should_checkpoint())
            tune.report(x=2)
            print(tune.should_checkpoint())
            d = tune.checkpoint_dir()
            with open(os.path.join(d, "w.txt"), "w") as f: f.write("2")
            print(d)
            print(tune.record_checkpoint(d))
            print(tune.should_checkpoint())   # recorded: no longer asked
            tune.report(x=3)
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split("\n")[:-1]
        final = os.path.join(self.tmpdir, "checkpoints", "checkpoint_000002")
        self.assertEqual(lines[0:2], ["False", "True"])
        self.assertEqual(lines[3], final)
        self.assertEqual(lines[4], "False")
        self.assertEqual(e.types(), ["hello", "report", "report", "checkpoint", "report", "done"])
        self.assertEqual(e.received[3], {"type": "checkpoint", "path": lines[2]})
        with open(os.path.join(final, "w.txt")) as f:
            self.assertEqual(f.read(), "2")

    def test_record_checkpoint_relative_path_is_sent_absolute(self):
        e = self.engine()
        p = self.run_with(e, """
            import os, tunelua as tune
            d = tune.checkpoint_dir()
            os.chdir(os.path.dirname(d))
            print(tune.record_checkpoint(os.path.basename(d)))
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.isabs(e.received[1]["path"]))
        self.assertEqual(p.stdout.strip(),
                         os.path.join(self.tmpdir, "checkpoints", "checkpoint_000000"))

    def test_record_checkpoint_refuses_missing_or_outside_dirs_without_sending(self):
        e = self.engine()
        p = self.run_with(e, """
            import tempfile, tunelua as tune
            for bad in ("/nonexistent/ckpt", tempfile.gettempdir()):
                try:
                    tune.record_checkpoint(bad)
                except ValueError as err:
                    print("refused", "inside the trial directory" in str(err))
            tune.report(x=1)
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split("\n")[:-1], ["refused False", "refused True"])
        self.assertEqual(e.types(), ["hello", "report", "done"])

    def test_engine_refusing_a_checkpoint_raises_protocol_error(self):
        e = self.engine(checkpoint_replies=[{"type": "error", "message": "no such directory"}])
        p = self.run_with(e, """
            import tunelua as tune
            tune.record_checkpoint(tune.checkpoint_dir())
        """)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ProtocolError: no such directory", p.stderr)
        self.assertEqual(e.types(), ["hello", "checkpoint"])

    def test_stop_with_checkpoint_returns_then_record_raises_and_exits_zero(self):
        e = self.engine(decisions=[{}, {"action": "stop", "checkpoint": True}])
        p = self.run_with(e, """
            import os, tunelua as tune
            for epoch in range(1, 11):
                tune.report(epoch=epoch)
                print("returned", epoch, tune.should_checkpoint(), flush=True)
                if tune.should_checkpoint():
                    d = tune.checkpoint_dir()
                    open(os.path.join(d, "epoch"), "w").write(str(epoch))
                    try:
                        tune.record_checkpoint(d)
                    except tune.TrialStopped as s:
                        print("stopped", s.action, s.iteration, s.checkpoint, flush=True)
                        raise
            print("not reached")
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertEqual(p.stdout.split("\n")[:-1],
                         ["returned 1 False", "returned 2 True", "stopped stop 2 True"])
        self.assertEqual(e.types(), ["hello", "report", "report", "checkpoint"])  # no done
        self.assertEqual(e.checkpoints,
                         [os.path.join(self.tmpdir, "checkpoints", "checkpoint_000002")])

    def test_pause_with_checkpoint_then_report_raises_without_sending(self):
        e = self.engine(decisions=[{"action": "pause", "checkpoint": True}])
        p = self.run_with(e, """
            import tunelua as tune
            tune.report(epoch=1)                 # returns: a checkpoint is wanted first
            print("asked", tune.should_checkpoint())
            try:
                tune.report(epoch=2)             # the script skipped it: stopped now
            except tune.TrialStopped as s:
                print(s.action, s.iteration, s.checkpoint)
                raise
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertEqual(p.stdout.split("\n")[:-1], ["asked True", "pause 1 True"])
        self.assertEqual(e.types(), ["hello", "report"])

    def test_stop_with_checkpoint_and_script_ending_sends_no_done(self):
        e = self.engine(decisions=[{"action": "stop", "checkpoint": True}])
        p = self.run_with(e, "import tunelua as tune\ntune.report(epoch=1)\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(e.types(), ["hello", "report"])

    def test_pause_without_checkpoint_raises_at_once(self):
        e = self.engine(decisions=[{"action": "pause"}])
        p = self.run_with(e, """
            import tunelua as tune
            tune.report(epoch=1)
            print("not reached")
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((p.stdout, p.stderr), ("", ""))
        self.assertEqual(e.types(), ["hello", "report"])

    def test_record_after_stop_without_checkpoint_raises_trial_stopped(self):
        e = self.engine(decisions=[{"action": "stop"}])
        p = self.run_with(e, """
            import tunelua as tune
            try:
                tune.report(epoch=1)
            except tune.TrialStopped:
                pass
            d = tune.checkpoint_dir()
            try:
                tune.record_checkpoint(d)
            except tune.TrialStopped as s:
                print("stopped", s.action)
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "stopped stop")
        self.assertEqual(e.types(), ["hello", "report"])

    def test_function_api_given_a_reset_raises_protocol_error(self):
        e = self.engine(decisions=[{"action": "reset", "config": {"lr": 1}, "restore": None}])
        p = self.run_with(e, "import tunelua as tune\ntune.report(epoch=1)\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ProtocolError: the engine sent a reset decision", p.stderr)
        self.assertEqual(e.types(), ["hello", "report"])


class WelcomeFieldsTest(EngineTestCase):
    def test_shared_and_trial_dir_from_welcome(self):
        e = self.engine(welcome={"type": "welcome", "trial": "t0001", "config": {},
                                 "restore": None, "iteration": 0,
                                 "trial_dir": "/runs/x/trials/t0001",
                                 "shared": {"data": "/runs/x/shared/data",
                                            "vocab": "/runs/x/shared/vocab"}})
        p = self.run_with(e, """
            import tunelua as tune
            print(tune.shared("data"))
            print(tune.trial_dir())
            try:
                tune.shared("model")
            except KeyError as err:
                print(err.args[0])
        """, env_extra={"TUNELUA_TRIAL_DIR": ""})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split("\n")[:-1], [
            "/runs/x/shared/data", "/runs/x/trials/t0001",
            "tunelua: no shared object 'model' (this experiment shares: data, vocab)"])

    def test_shared_without_any(self):
        e = self.engine()
        p = self.run_with(e, """
            import tunelua as tune
            try:
                tune.shared("data")
            except KeyError as err:
                print(err.args[0])
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(),
                         "tunelua: no shared object 'data' (this experiment shares: none)")


class StandaloneCheckpointTest(EngineTestCase):
    def test_by_hand_checkpoints_are_renamed_and_restore_shared_come_from_env(self):
        p = run_client("""
            import os, tunelua as tune
            print(tune.restore_dir(), tune.shared("data"))
            tune.report(x=1)
            d = tune.checkpoint_dir()
            print(os.path.relpath(tune.record_checkpoint(d), tune.trial_dir()))
            print(os.path.relpath(tune.record_checkpoint(tune.checkpoint_dir()), tune.trial_dir()))
        """, env_extra={"TUNELUA_PARAMS": "{}", "TUNELUA_TRIAL_DIR": self.tmpdir,
                        "TUNELUA_RESTORE": "/ck/1", "TUNELUA_SHARED": '{"data": "/d"}'})
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [l for l in p.stdout.split("\n")[:-1] if not l.startswith("[tunelua]")]
        self.assertEqual(lines, ["/ck/1 /d", "checkpoints/checkpoint_000001",
                                 "checkpoints/checkpoint_000001-2"])


if __name__ == "__main__":
    unittest.main()

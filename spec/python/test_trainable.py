"""The class API: tunelua.Trainable driven by tunelua.run(Cls), reuse (reset), run(fn)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_engine import EngineTestCase  # noqa: E402

# A Trainable that logs every call, as JSON lines on stdout, and keeps a counter
# it saves to and loads from checkpoints. Appended to each test's own code.
RECORDER = """
import json, os, sys, tunelua as tune

def log(*what):
    print(json.dumps(what), flush=True)

class Rec(tune.Trainable):
    def setup(self, config):
        log("setup", config, self.iteration, self.trial_id,
            self.trial_dir == os.environ["TUNELUA_TRIAL_DIR"])
        self.n = 0
    def step(self):
        self.n += 1
        log("step", self.iteration, self.n, self.config)
        return {"n": self.n, "lr": self.config["lr"]}
    def save_checkpoint(self, d):
        log("save", os.path.basename(d).startswith("tmp-"), os.listdir(d))
        with open(os.path.join(d, "n"), "w") as f:
            f.write(str(self.n))
    def load_checkpoint(self, d):
        with open(os.path.join(d, "n")) as f:
            self.n = int(f.read())
        log("load", d, self.n)
    def cleanup(self):
        log("cleanup")
"""


def calls(proc):
    return [json.loads(line) for line in proc.stdout.split("\n") if line]


class TrainableTest(EngineTestCase):
    def restore_point(self, n, name="checkpoint_000003"):
        d = os.path.join(self.tmpdir, "checkpoints", name)
        os.makedirs(d)
        with open(os.path.join(d, "n"), "w") as f:
            f.write(str(n))
        return d

    def test_full_cycle_restore_steps_checkpoint_stop(self):
        restore = self.restore_point(3)
        e = self.engine(welcome={"type": "welcome", "trial": "t0001", "config": {"lr": 0.1},
                                 "restore": restore, "iteration": 3},
                        decisions=[{}, {"checkpoint": True}, {"action": "stop"}])
        p = self.run_with(e, RECORDER + """
tune.run(Rec)
log("returned")
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertEqual(calls(p), [
            ["setup", {"lr": 0.1}, 3, "t0001", True],
            ["load", restore, 3],
            ["step", 3, 4, {"lr": 0.1}],
            ["step", 4, 5, {"lr": 0.1}],
            ["save", True, []],
            ["step", 5, 6, {"lr": 0.1}],
            ["cleanup"],
            ["returned"]])
        self.assertEqual(e.types(), ["hello", "report", "report", "checkpoint", "report"])
        self.assertEqual(e.metrics(), [{"n": 4, "lr": 0.1}, {"n": 5, "lr": 0.1},
                                       {"n": 6, "lr": 0.1}])
        final = os.path.join(self.tmpdir, "checkpoints", "checkpoint_000005")
        self.assertEqual(e.checkpoints, [final])
        with open(os.path.join(final, "n")) as f:
            self.assertEqual(f.read(), "5")

    def test_hello_says_class_and_no_reuse_without_reset_config(self):
        e = self.engine(decisions=[{"action": "stop"}])
        p = self.run_with(e, RECORDER + "tune.run(Rec)\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((e.received[0]["api"], e.received[0]["reuse"]), ("class", False))

    def test_hello_says_reuse_with_reset_config(self):
        e = self.engine(decisions=[{"action": "stop"}])
        p = self.run_with(e, RECORDER + """
class Reusable(Rec):
    def reset_config(self, new_config):
        return True
tune.run(Reusable)
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((e.received[0]["api"], e.received[0]["reuse"]), ("class", True))

    def test_pause_with_checkpoint_saves_records_then_cleans_up(self):
        e = self.engine(decisions=[{"action": "pause", "checkpoint": True}])
        p = self.run_with(e, RECORDER + "tune.run(Rec)\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([c[0] for c in calls(p)], ["setup", "step", "save", "cleanup"])
        self.assertEqual(e.types(), ["hello", "report", "checkpoint"])  # no done

    def test_reset_ok_reconfigures_loads_and_trains_on(self):
        donor = self.restore_point(40, "donor")
        e = self.engine(decisions=[
            {}, {"action": "reset", "config": {"lr": 0.5}, "restore": donor},
            {}, {"action": "stop"}])
        p = self.run_with(e, RECORDER + """
class Reusable(Rec):
    def reset_config(self, new_config):
        log("reset_config", new_config, self.config)
        return True
tune.run(Reusable)
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(calls(p), [
            ["setup", {"lr": 0.01}, 0, "t0001", True],
            ["step", 0, 1, {"lr": 0.01}],
            ["step", 1, 2, {"lr": 0.01}],
            ["reset_config", {"lr": 0.5}, {"lr": 0.01}],
            ["load", donor, 40],
            ["step", 2, 41, {"lr": 0.5}],
            ["step", 3, 42, {"lr": 0.5}],
            ["cleanup"]])
        self.assertEqual(e.types(), ["hello", "report", "report", "reset_done", "report",
                                     "report"])
        self.assertEqual(e.received[3], {"type": "reset_done", "ok": True})
        self.assertEqual(e.metrics()[2:], [{"n": 41, "lr": 0.5}, {"n": 42, "lr": 0.5}])

    def test_reset_without_restore_only_reconfigures(self):
        e = self.engine(decisions=[{"action": "reset", "config": {"lr": 0.2}, "restore": None},
                                   {"action": "stop"}])
        p = self.run_with(e, RECORDER + """
class Reusable(Rec):
    def reset_config(self, new_config):
        return True
tune.run(Reusable)
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([c[0] for c in calls(p)], ["setup", "step", "step", "cleanup"])
        self.assertEqual(e.metrics(), [{"n": 1, "lr": 0.01}, {"n": 2, "lr": 0.2}])

    def test_reset_refused_answers_false_cleans_up_and_exits_zero(self):
        e = self.engine(decisions=[{"action": "reset", "config": {"lr": 0.5},
                                    "restore": None}])
        p = self.run_with(e, RECORDER + """
class Picky(Rec):
    def reset_config(self, new_config):
        log("reset_config", new_config)
        return False
tune.run(Picky)
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([c[0] for c in calls(p)], ["setup", "step", "reset_config", "cleanup"])
        self.assertEqual(e.types(), ["hello", "report", "reset_done"])  # and no done
        self.assertEqual(e.received[2], {"type": "reset_done", "ok": False})

    def test_reset_with_checkpoint_saves_before_resetting(self):
        e = self.engine(decisions=[{"action": "reset", "checkpoint": True,
                                    "config": {"lr": 0.5}, "restore": None},
                                   {"action": "stop"}])
        p = self.run_with(e, RECORDER + """
class Reusable(Rec):
    def reset_config(self, new_config):
        log("reset_config")
        return True
tune.run(Reusable)
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([c[0] for c in calls(p)],
                         ["setup", "step", "save", "reset_config", "step", "cleanup"])
        self.assertEqual(e.types(), ["hello", "report", "checkpoint", "reset_done", "report"])

    def test_done_result_is_reported_then_done_sent(self):
        e = self.engine()
        p = self.run_with(e, RECORDER + """
class Short(Rec):
    def step(self):
        r = Rec.step(self)
        return dict(r, done=self.n >= 2)
tune.run(Short)
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([c[0] for c in calls(p)], ["setup", "step", "step", "cleanup"])
        self.assertEqual(e.types(), ["hello", "report", "report", "done"])
        self.assertEqual(e.metrics(), [{"n": 1, "lr": 0.01}, {"n": 2, "lr": 0.01}])

    def test_exception_in_step_sends_error_and_cleans_up(self):
        e = self.engine()
        p = self.run_with(e, RECORDER + """
class Bad(Rec):
    def step(self):
        if self.iteration == 1:
            raise ValueError("diverged")
        return Rec.step(self)
tune.run(Bad)
""")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ValueError: diverged", p.stderr)
        self.assertEqual([c[0] for c in calls(p)], ["setup", "step", "cleanup"])
        self.assertEqual(e.types(), ["hello", "report", "error"])
        self.assertEqual(e.received[2]["message"], "ValueError: diverged")

    def test_step_must_return_a_dict(self):
        e = self.engine()
        p = self.run_with(e, RECORDER + """
class NoDict(Rec):
    def step(self):
        return 0.5
tune.run(NoDict)
""")
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(e.types(), ["hello", "error"])
        self.assertIn("NoDict.step() must return a dict", e.received[1]["message"])

    def test_checkpoint_request_without_save_checkpoint_is_skipped(self):
        e = self.engine(decisions=[{"checkpoint": True}, {"action": "stop"}])
        p = self.run_with(e, """
import tunelua as tune
class Plain(tune.Trainable):
    def step(self):
        return {"i": self.iteration}
tune.run(Plain)
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(e.types(), ["hello", "report", "report"])
        self.assertEqual(e.metrics(), [{"i": 0}, {"i": 1}])

    def test_run_function(self):
        e = self.engine(decisions=[{}, {"action": "stop"}])
        p = self.run_with(e, """
import tunelua as tune
def train(config):
    for i in range(10):
        tune.report(i=i, lr=config["lr"])
    return "finished"
print(tune.run(train))
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "None")
        self.assertEqual(e.received[0]["api"], "function")
        self.assertNotIn("reuse", e.received[0])
        self.assertEqual(e.types(), ["hello", "report", "report"])

    def test_run_function_to_the_end_sends_done(self):
        e = self.engine()
        p = self.run_with(e, """
import tunelua as tune
def train(config):
    tune.report(i=1)
    return 7
print(tune.run(train))
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "7")
        self.assertEqual(e.types(), ["hello", "report", "done"])

    def test_run_rejects_other_things(self):
        e = self.engine()
        p = self.run_with(e, """
import tunelua as tune
for bad in (object, 3):
    try:
        tune.run(bad)
    except TypeError as err:
        print("TypeError")
tune.params()
""")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), ["TypeError", "TypeError"])

    def test_class_run_after_function_calls_is_refused(self):
        e = self.engine()
        p = self.run_with(e, RECORDER + """
tune.params()
tune.run(Rec)
""")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("tunelua.run() must come before any other tunelua call", p.stderr)


if __name__ == "__main__":
    unittest.main()

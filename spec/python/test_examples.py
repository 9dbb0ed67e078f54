"""examples/counter_fn.py and examples/counter_class.py: one trainer written with
the function API and the class API gives the same results and checkpoints for the
same engine decisions."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_engine import EXAMPLES_DIR, EngineTestCase, run_client  # noqa: E402

SCRIPTS = ("counter_fn.py", "counter_class.py")


class CounterTwinsTest(EngineTestCase):
    def run_script(self, script, welcome=None, decisions=()):
        e = self.engine(welcome=welcome, decisions=decisions)
        p = self.run_with(e, script=os.path.join(EXAMPLES_DIR, script))
        self.assertEqual(p.returncode, 0, script + ": " + p.stderr)
        self.assertEqual(p.stderr, "", script)
        return e

    def checkpoint_x(self, path):
        with open(os.path.join(path, "state.json")) as f:
            return json.load(f)["x"]

    def both(self, config, decisions, restore_x=None, iteration=0):
        """Runs both scripts against the same script; returns (engine, checkpoint xs) each."""
        out = []
        for script in SCRIPTS:
            self.tearDown()
            self.setUp()
            restore = None
            if restore_x is not None:
                restore = os.path.join(self.tmpdir, "checkpoints", "checkpoint_%06d" % iteration)
                os.makedirs(restore)
                with open(os.path.join(restore, "state.json"), "w") as f:
                    json.dump({"x": restore_x}, f)
            e = self.run_script(script, {"type": "welcome", "trial": "t0001", "config": config,
                                         "restore": restore, "iteration": iteration},
                                decisions)
            out.append((e.metrics(), [m["type"] for m in e.received[1:]],
                        [self.checkpoint_x(c) for c in e.checkpoints],
                        [os.path.basename(c) for c in e.checkpoints]))
        return out

    def test_same_results_checkpoints_and_stop(self):
        decisions = [{}, {"checkpoint": True}, {}, {}, {"checkpoint": True},
                     {"action": "stop", "checkpoint": True}]
        fn, cls = self.both({"start": 3, "step": 2}, decisions)
        self.assertEqual(fn, cls)
        metrics, types, xs, names = fn
        self.assertEqual(metrics, [{"x": 3 + 2 * i, "score": -abs(3 + 2 * i - 10)}
                                   for i in range(1, 7)])
        self.assertEqual(types, ["report"] * 2 + ["checkpoint"] + ["report"] * 3
                         + ["checkpoint", "report", "checkpoint"])
        self.assertEqual(xs, [7, 13, 15])
        self.assertEqual(names, ["checkpoint_000002", "checkpoint_000005", "checkpoint_000006"])

    def test_same_results_after_restore_and_pause(self):
        decisions = [{}, {"action": "pause"}]
        fn, cls = self.both({"start": 0, "step": 1.5}, decisions, restore_x=9, iteration=6)
        self.assertEqual(fn, cls)
        self.assertEqual(fn[0], [{"x": 10.5, "score": -0.5}, {"x": 12.0, "score": -2.0}])
        self.assertEqual(fn[1], ["report", "report"])

    def test_same_results_ending_by_themselves(self):
        fn, cls = self.both({"start": 0, "step": 5, "iterations": 3}, [])
        self.assertEqual(fn, cls)
        self.assertEqual(fn[0], [{"x": 5, "score": -5}, {"x": 10, "score": 0},
                                 {"x": 15, "score": -5}])
        self.assertEqual(fn[1], ["report", "report", "report", "done"])

    def test_reset_in_place_equals_pause_and_restart(self):
        # PBT exploit: the class trainer offers reuse and takes a reset; the
        # function trainer is paused and started again with the new config.
        donor = os.path.join(self.tmpdir, "donor")
        new = {"start": 0, "step": -1}

        def make_donor():
            os.makedirs(donor)
            with open(os.path.join(donor, "state.json"), "w") as f:
                json.dump({"x": 20}, f)

        old = {"type": "welcome", "trial": "t0001", "config": {"start": 0, "step": 1},
               "restore": None, "iteration": 0}
        make_donor()
        e = self.run_script("counter_class.py", old, [
            {}, {"action": "reset", "config": new, "restore": donor}, {}, {"action": "stop"}])
        self.assertEqual(e.received[0]["reuse"], True)
        reused = e.metrics()

        self.tearDown(); self.setUp()
        first = self.run_script("counter_fn.py", old, [{}, {"action": "pause"}]).metrics()
        self.tearDown(); self.setUp()
        make_donor()
        second = self.run_script("counter_fn.py", {
            "type": "welcome", "trial": "t0001", "config": new, "restore": donor,
            "iteration": 2}, [{}, {"action": "stop"}]).metrics()
        self.assertEqual(reused, first + second)
        self.assertEqual([m["x"] for m in reused], [1, 2, 19, 18])

    def test_same_output_by_hand(self):
        outs = []
        for script in SCRIPTS:
            p = run_client(script=os.path.join(EXAMPLES_DIR, script), env_extra={
                "TUNELUA_PARAMS": '{"start": 1, "step": 3, "iterations": 4}'})
            self.assertEqual(p.returncode, 0, p.stderr)
            outs.append(p.stdout)
        self.assertEqual(outs[0], outs[1])
        self.assertEqual(len(outs[0].splitlines()), 4)


if __name__ == "__main__":
    unittest.main()


class TrainersDocTest(EngineTestCase):
    """The two Python examples in docs/trainers.md run as they are."""

    def doc_examples(self):
        with open(os.path.join(EXAMPLES_DIR, "..", "docs", "trainers.md"), encoding="utf-8") as f:
            text = f.read()
        python = text.split("## Python", 1)[1].split("\n## C", 1)[0]
        blocks = [b.split("```", 1)[0] for b in python.split("```python\n")[1:]]
        self.assertEqual(len(blocks), 2)
        return blocks

    def test_function_and_class_examples(self):
        for code in self.doc_examples():
            self.tearDown()
            self.setUp()
            e = self.engine(welcome={"type": "welcome", "trial": "t0001",
                                     "config": {"lr": 0.5}, "restore": None, "iteration": 0},
                            decisions=[{}, {"checkpoint": True},
                                       {"action": "pause", "checkpoint": True}])
            p = self.run_with(e, code)
            self.assertEqual((p.returncode, p.stderr), (0, ""))
            self.assertEqual(e.types(), ["hello", "report", "report", "checkpoint", "report",
                                         "checkpoint"])
            self.assertEqual([m["loss"] for m in e.metrics()], [0.5, 0.25, 0.125])
            with open(os.path.join(e.checkpoints[-1], "state.json")) as f:
                self.assertEqual(json.load(f), {"w": 0.875})

"""A deterministic toy trainer, class API (twin of examples/counter_fn.py).

State: x, starting at config["start"]; each step x += config["step"] and the
result {"x": x, "score": -abs(x - 10)} is reported. A checkpoint is state.json
holding x; a restored run continues from it. The trial runs until the engine
stops it, or for config["iterations"] results in all when that is set.
reset_config lets PBT change the config without a new process.

Both files produce the same results for the same config and the same engine
decisions. By hand:

    TUNELUA_PARAMS='{"start": 0, "step": 2, "iterations": 5}' python3 examples/counter_class.py
"""

import json
import os
import sys

try:
    import tunelua as tune  # tunelua puts trainers/python on PYTHONPATH
except ImportError:  # run by hand from a checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "trainers", "python"))
    import tunelua as tune


class Counter(tune.Trainable):
    def setup(self, config):
        self.x = config["start"]

    def step(self):
        self.x += self.config["step"]
        limit = self.config.get("iterations")
        result = {"x": self.x, "score": -abs(self.x - 10)}
        if limit is not None and self.iteration + 1 >= limit:
            result["done"] = True        # ends the trial; not reported as a metric
        return result

    def save_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "state.json"), "w") as f:
            json.dump({"x": self.x}, f)

    def load_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "state.json")) as f:
            self.x = json.load(f)["x"]

    def reset_config(self, new_config):
        # Start over as a new process would (x = start); the adapter then loads
        # the exploited trial's checkpoint, when there is one, over it.
        self.x = new_config["start"]
        return True


if __name__ == "__main__":
    tune.run(Counter)

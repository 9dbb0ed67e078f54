"""A deterministic toy trainer, function API (twin of examples/counter_class.py).

State: x, starting at config["start"]; each iteration x += config["step"] and the
result {"x": x, "score": -abs(x - 10)} is reported. A checkpoint is state.json
holding x; a restored run continues from it. The trial runs until the engine
stops it, or for config["iterations"] results in all when that is set.

Both files produce the same results for the same config and the same engine
decisions. By hand:

    TUNELUA_PARAMS='{"start": 0, "step": 2, "iterations": 5}' python3 examples/counter_fn.py
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


def main():
    config = tune.params()
    x = config["start"]
    if tune.restore_dir():
        with open(os.path.join(tune.restore_dir(), "state.json")) as f:
            x = json.load(f)["x"]
    limit = config.get("iterations")
    while limit is None or tune.iteration() < limit:
        x += config["step"]
        tune.report(x=x, score=-abs(x - 10))   # raises TrialStopped on stop/pause
        if tune.should_checkpoint():
            d = tune.checkpoint_dir()
            with open(os.path.join(d, "state.json"), "w") as f:
                json.dump({"x": x}, f)
            tune.record_checkpoint(d)          # after a stop/pause: raises TrialStopped


if __name__ == "__main__":
    main()

"""The Slurm specs' trainer (Python client over TCP): counts x up by one per result, saves
x in a checkpoint after every result, and reports the node it runs on (SLURMD_NODENAME) and
x. config["sleep"] seconds between results; config["steps"] results in all (the stop rule
usually ends it first). A restore continues x from the checkpoint, so that a retry on another
node shows up as a continuous count."""
import json
import os
import time

import tunelua as tune

cfg = tune.params()
x = 0
restore = tune.restore_dir()
if restore:
    with open(os.path.join(restore, "state.json")) as fh:
        x = json.load(fh)["x"]
node = os.environ.get("SLURMD_NODENAME", "?")
while True:
    time.sleep(cfg.get("sleep", 0.2))
    x += 1
    d = tune.checkpoint_dir()
    with open(os.path.join(d, "state.json"), "w") as fh:
        json.dump({"x": x}, fh)
    tune.record_checkpoint(d)
    tune.report(x=x, node=node, restored=restore is not None,
                job=os.environ.get("SLURM_JOB_ID", ""), step=os.environ.get("SLURM_STEP_ID", ""))

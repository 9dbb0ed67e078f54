"""A checkpointing trainer that logs, on its own side, every report the engine
acknowledged (iteration and value), for the kill -9 / resume spec."""
import json
import os
import time

import tunelua as tune

c = tune.params()
x = 0
if tune.restore_dir():
    with open(os.path.join(tune.restore_dir(), "s.json")) as f:
        x = json.load(f)["x"]
log = open(os.path.join(tune.trial_dir(), "acked.log"), "a")
while True:
    time.sleep(c["sleep"])
    x += c["step"]
    tune.report(x=x)
    log.write("%d %d\n" % (tune.iteration(), x))
    log.flush()
    if tune.should_checkpoint():
        d = tune.checkpoint_dir()
        with open(os.path.join(d, "s.json"), "w") as f:
            json.dump({"x": x}, f)
        tune.record_checkpoint(d)

"""A Python trainer whose ending depends on config["mode"]:
finish  reports 3 results and returns (the client sends `done`, exit 0)
raise   reports 2 results, then raises ValueError (the client sends `error`)"""
import tunelua as tune

config = tune.params()
n = 3 if config["mode"] == "finish" else 2
for step in range(1, n + 1):
    tune.report(loss=1.0 / step, step=step)
if config["mode"] == "raise":
    raise ValueError("loss diverged at step %d" % n)

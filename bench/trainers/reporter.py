"""reporter.py - the Python twin of reporter.c (same config keys: pre_sleep, reports,
rate, duration), through trainers/python/tunelua.py."""
import time

import tunelua as tune

c = tune.params()
pre_sleep = float(c.get("pre_sleep", 0))
reports = int(c.get("reports", 1))
rate = float(c.get("rate", 0))
duration = float(c.get("duration", 0))
if pre_sleep > 0:
    time.sleep(pre_sleep)
start = time.monotonic()
i = 1
try:
    while reports <= 0 or i <= reports:
        if rate > 0:
            d = start + (i - 1) / rate - time.monotonic()
            if d > 0:
                time.sleep(d)
        if duration > 0 and time.monotonic() - start >= duration:
            break
        tune.report({"loss": 1.0 / i, "step": i})
        i += 1
except tune.TrialStopped:
    pass

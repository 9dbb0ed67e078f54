"""A synthetic trainer for the quickstart: a learning curve, no real training.

Accuracy rises with the epochs towards an asymptote that depends smoothly on the
hyperparameters: best near lr = 0.01 and momentum = 0.9, a little better with a
wider network and with relu. The effective step size lr / (1 - momentum) sets how
fast the curve rises. Small noise comes from a generator seeded by the config, so
the same config gives the same curve.

Run by tunelua (`tunelua examples/quickstart.lua`), or by hand:

    TUNELUA_PARAMS='{"lr":0.01,"momentum":0.9,"width":64,"activation":"relu","epochs":3}' \\
        python3 examples/quickstart.py
"""

import json
import math
import os
import random
import sys
import time
import zlib

try:
    import tunelua as tune  # tunelua puts trainers/python on PYTHONPATH
except ImportError:  # run by hand from a checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "trainers", "python"))
    import tunelua as tune


def asymptote(lr, momentum, width, activation):
    """The accuracy this config would reach with unlimited epochs (0.5 .. ~0.97)."""
    lr_fit = math.exp(-0.5 * ((math.log10(lr) + 2.0) / 0.7) ** 2)       # 1 at lr = 1e-2
    momentum_fit = math.exp(-0.5 * ((momentum - 0.9) / 0.12) ** 2)      # 1 at 0.9
    width_fit = min(1.0, max(0.0, math.log2(width / 16.0) / 3.0))      # 16 -> 0, 128 -> 1
    relu_bonus = 0.01 if activation == "relu" else 0.0
    return 0.50 + 0.33 * lr_fit + 0.08 * momentum_fit + 0.05 * width_fit + relu_bonus


def main():
    config = tune.params()
    lr = float(config.get("lr", 0.01))
    momentum = float(config.get("momentum", 0.9))
    width = int(config.get("width", 64))
    activation = str(config.get("activation", "relu"))
    epochs = int(config.get("epochs", 20))

    # hash() of a str differs between processes; crc32 of the sorted JSON does not.
    seed = zlib.crc32(json.dumps(config, sort_keys=True).encode("utf-8"))
    rng = random.Random(seed)

    top = asymptote(lr, momentum, width, activation)
    step = lr / max(1e-3, 1.0 - momentum)                    # effective step size
    tau = 1.5 + 10.0 / (1.0 + step / 0.01)                   # epochs to rise by 63%
    jitter = 0.004 + 0.02 * min(1.0, step / 1.0)             # big steps are noisy
    start = 0.10                                            # chance level, 10 classes

    for epoch in range(1, epochs + 1):
        time.sleep(0.05)
        progress = 1.0 - math.exp(-epoch / tau)
        accuracy = start + (top - start) * progress + rng.gauss(0.0, jitter)
        accuracy = min(0.999, max(0.0, accuracy))
        loss = -math.log(max(accuracy, 1e-3)) * (1.0 + rng.gauss(0.0, 0.02))
        tune.report(accuracy=accuracy, loss=loss, epoch=epoch)


if __name__ == "__main__":
    main()

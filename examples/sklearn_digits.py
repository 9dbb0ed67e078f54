"""SGDClassifier on scikit-learn's bundled digits data set, one epoch per result.

Config keys: alpha (regularization strength), penalty ("l2" | "l1" |
"elasticnet"), l1_ratio (elastic-net mixing, used with "elasticnet"),
learning_rate ("optimal" | "adaptive"), eta0 (initial step size for
"adaptive"), epochs (default 30). Each epoch is one partial_fit pass over the
training split; the result carries the validation accuracy and log loss.

The digits data (1797 8x8 images) ships with scikit-learn, nothing is
downloaded. The train/validation split is fixed by a seed, so every trial sees
the same data. Needs Debian's python3-sklearn, i.e. /usr/bin/python3:

    TUNELUA_PARAMS='{"alpha":1e-4,"penalty":"elasticnet","l1_ratio":0.5,
        "learning_rate":"adaptive","eta0":0.01,"epochs":3}' /usr/bin/python3 examples/sklearn_digits.py
"""

import os
import sys
import warnings

try:
    import tunelua as tune  # tunelua puts trainers/python on PYTHONPATH
except ImportError:  # run by hand from a checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "trainers", "python"))
    import tunelua as tune

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SPLIT_SEED = 0   # the train/validation split, the same for every trial
MODEL_SEED = 1   # the classifier's own shuffling


def load_data():
    """Standardized train and validation splits of the digits data."""
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.25, random_state=SPLIT_SEED, stratify=y)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def make_model(config):
    penalty = str(config.get("penalty", "l2"))
    kwargs = dict(
        alpha=float(config.get("alpha", 1e-4)),
        penalty=penalty,
        l1_ratio=float(config.get("l1_ratio", 0.15 if penalty == "elasticnet" else 0.0)),
        learning_rate=str(config.get("learning_rate", "optimal")),
        eta0=float(config.get("eta0", 0.01)),
        random_state=MODEL_SEED,
    )
    try:
        return SGDClassifier(loss="log_loss", **kwargs)  # scikit-learn >= 1.1
    except TypeError:
        return SGDClassifier(loss="log", **kwargs)


def main():
    config = tune.params()
    epochs = int(config.get("epochs", 30))
    x_train, x_val, y_train, y_val = load_data()
    classes = np.unique(y_train)
    model = make_model(config)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    for epoch in range(1, epochs + 1):
        model.partial_fit(x_train, y_train, classes=classes)
        accuracy = model.score(x_val, y_val)
        with np.errstate(all="ignore"):
            proba = model.predict_proba(x_val)
        loss = log_loss(y_val, np.clip(np.nan_to_num(proba, nan=0.1), 1e-15, 1.0),
                        labels=classes)
        tune.report(accuracy=accuracy, loss=loss, epoch=epoch)


if __name__ == "__main__":
    main()

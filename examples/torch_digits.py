"""A PyTorch MLP on scikit-learn's bundled digits data set, class API, one epoch per result.

Config keys: lr, momentum, weight_decay (SGD), hidden (width of the one hidden
layer), and optionally epochs (the trial ends by itself after that many results
in all; without it the experiment's stop criterion ends it). Each step trains
one epoch (mini-batches of 64) and reports the validation accuracy and loss.

A checkpoint is model.pt: the model, the optimizer (momentum buffers), the
epoch and the shuffling generator, so a restored trial continues its curve
exactly. reset_config changes lr, momentum and weight_decay in place, so PBT
can reuse the process (trainer.reuse = true). It returns False for a new
`hidden` (the engine then starts a new process), and a restored checkpoint
keeps the width it was saved with, so leave `hidden` out of PBT's mutations.

The digits data (1797 8x8 images) ships with scikit-learn, nothing is
downloaded. Runs on "cuda" when torch sees a GPU (the engine empties
CUDA_VISIBLE_DEVICES for trials with gpu = 0), else on the CPU with
OMP_NUM_THREADS threads. Needs Debian's python3-torch and python3-sklearn
(apt-get install python3-torch python3-sklearn), i.e. /usr/bin/python3:

    TUNELUA_PARAMS='{"lr":0.05,"momentum":0.9,"hidden":64,"weight_decay":1e-4,"epochs":3}' \\
        /usr/bin/python3 examples/torch_digits.py
"""

import os
import sys

try:
    import tunelua as tune  # tunelua puts trainers/python on PYTHONPATH
except ImportError:  # run by hand from a checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "trainers", "python"))
    import tunelua as tune

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SPLIT_SEED = 0   # the train/validation split, the same for every trial
MODEL_SEED = 1   # weight initialisation and batch order
BATCH = 64
HPARAMS = ("lr", "momentum", "weight_decay")   # what reset_config can change in place


def load_data(device):
    """Standardized train and validation splits of the digits data, as tensors."""
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.25, random_state=SPLIT_SEED, stratify=y)
    scaler = StandardScaler().fit(x_train)

    def tensors(xs, ys):
        return (torch.tensor(scaler.transform(xs), dtype=torch.float32, device=device),
                torch.tensor(ys, dtype=torch.long, device=device))
    return tensors(x_train, y_train) + tensors(x_val, y_val)


class DigitsMLP(tune.Trainable):
    def setup(self, config):
        threads = os.environ.get("OMP_NUM_THREADS")
        if threads and threads.isdigit() and int(threads) > 0:
            torch.set_num_threads(int(threads))
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.x_train, self.y_train, self.x_val, self.y_val = load_data(self.device)
        self.build(config)

    def build(self, config):
        torch.manual_seed(MODEL_SEED)
        self.hidden = int(config["hidden"])
        self.model = torch.nn.Sequential(
            torch.nn.Linear(64, self.hidden), torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, 10)).to(self.device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=float(config["lr"]),
            momentum=float(config["momentum"]), weight_decay=float(config["weight_decay"]))
        self.shuffle = torch.Generator().manual_seed(MODEL_SEED)
        self.epoch = 0

    def apply_hparams(self, config):
        for group in self.optimizer.param_groups:
            for k in HPARAMS:
                group[k] = float(config[k])

    def step(self):
        self.model.train()
        order = torch.randperm(len(self.y_train), generator=self.shuffle).to(self.device)
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            self.optimizer.zero_grad()
            loss = F.cross_entropy(self.model(self.x_train[idx]), self.y_train[idx])
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(idx)
        self.epoch += 1
        self.model.eval()
        with torch.no_grad():
            logits = self.model(self.x_val)
            val_loss = F.cross_entropy(logits, self.y_val).item()
            accuracy = (logits.argmax(1) == self.y_val).sum().item() / len(self.y_val)
        result = {"accuracy": accuracy, "loss": val_loss,
                  "train_loss": total / len(order), "epoch": self.epoch}
        epochs = self.config.get("epochs")
        if epochs is not None and self.iteration + 1 >= int(epochs):
            result["done"] = True        # ends the trial; not reported as a metric
        return result

    def save_checkpoint(self, checkpoint_dir):
        torch.save({"model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "epoch": self.epoch, "hidden": self.hidden,
                    "shuffle": self.shuffle.get_state()},
                   os.path.join(checkpoint_dir, "model.pt"))

    def load_checkpoint(self, checkpoint_dir):
        state = torch.load(os.path.join(checkpoint_dir, "model.pt"), map_location=self.device)
        if state["hidden"] != self.hidden:   # another trial's model (an exploit): its shape
            self.build(dict(self.config, hidden=state["hidden"]))
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.apply_hparams(self.config)      # the optimizer state carries the old lr etc.
        self.shuffle.set_state(state["shuffle"].cpu())   # map_location moved it
        self.epoch = state["epoch"]

    def reset_config(self, new_config):
        # PBT reuse: same model shape, new optimizer settings; load_checkpoint follows
        # with the exploited trial's weights and momentum buffers.
        if int(new_config["hidden"]) != self.hidden:
            return False                     # a new shape: let the engine restart the process
        self.apply_hparams(new_config)
        return True


if __name__ == "__main__":
    tune.run(DigitsMLP)

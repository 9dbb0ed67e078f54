-- A PyTorch MLP (examples/torch_digits.py, class API) on the bundled 8x8 digits data set,
-- one epoch per result. Needs Debian's python3-torch (large, so `make deps` leaves it out):
--   apt-get install -y python3-torch
--   ./tunelua examples/torch_digits.lua
-- The trainer is Debian's /usr/bin/python3, the interpreter python3-torch and
-- python3-sklearn belong to (another python3 may come first on PATH). With a GPU, give
-- each trial one (resources = { cpu = 1, gpu = 1 }, and --gpus N): the trainer uses
-- "cuda" whenever torch sees a device.
local tune = require "tunelua"
return tune.experiment {
  name = "torch-digits",
  trainer = { cmd = { "/usr/bin/python3", "examples/torch_digits.py" }, resources = { cpu = 1 } },
  config = {
    lr = tune.loguniform(1e-3, 3e-1),
    momentum = tune.uniform(0.5, 0.99),
    hidden = tune.choice { 32, 64, 128 },
    weight_decay = tune.loguniform(1e-6, 1e-2),
  },
  num_samples = 6,
  metric = "accuracy", mode = "max",
  stop = { training_iteration = 10 },
  checkpoint = { every = 2, keep = 2 },
  scheduler = tune.schedulers.fifo {},
  -- Population Based Training instead: every few epochs the weakest trials take a copy of
  -- a strong trial's checkpoint and a perturbed lr/momentum/weight_decay. With reuse the
  -- running process takes the new config in place (DigitsMLP.reset_config), no restart:
  --   trainer = { cmd = { ... }, resources = { cpu = 1 }, reuse = true },
  --   stop = { training_iteration = 20 },
  --   scheduler = tune.schedulers.pbt {
  --     time_attr = "training_iteration", perturbation_interval = 2,
  --     hyperparam_mutations = {
  --       lr = tune.loguniform(1e-3, 3e-1),
  --       momentum = tune.uniform(0.5, 0.99),
  --       weight_decay = tune.loguniform(1e-6, 1e-2),
  --     },
  --   },
}

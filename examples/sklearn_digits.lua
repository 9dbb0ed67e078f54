-- A linear classifier (scikit-learn SGDClassifier) on the bundled 8x8 digits data set,
-- one epoch per result (examples/sklearn_digits.py). Run from the repo root:
--   tunelua examples/sklearn_digits.lua
--   tunelua examples/sklearn_digits.lua --scheduler asha     # stop poor trials early
-- The trainer is Debian's /usr/bin/python3, the interpreter python3-sklearn belongs to
-- (another python3 may come first on PATH).
local tune = require "tunelua"
return tune.experiment {
  name = "sklearn-digits",
  trainer = { cmd = { "/usr/bin/python3", "examples/sklearn_digits.py" }, resources = { cpu = 1 } },
  config = {
    alpha = tune.loguniform(1e-6, 1e-1),
    penalty = tune.choice { "l2", "l1", "elasticnet" },
    l1_ratio = tune.sample_from(function(c) return c.penalty == "elasticnet" and 0.5 or 0 end),
    learning_rate = tune.choice { "optimal", "adaptive" },
    eta0 = tune.loguniform(1e-3, 1e-1),   -- initial step size; used by "adaptive" only
  },
  num_samples = 8,
  metric = "accuracy", mode = "max",
  stop = { training_iteration = 30 },
  scheduler = tune.schedulers.fifo {}, searcher = tune.searchers.random {},
}

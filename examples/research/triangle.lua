-- The "triangle wave" learning-rate benchmark (Ray Tune's pbt_function example): a problem
-- that needs a *schedule* of hyperparameter values, so no fixed configuration solves it and
-- PBT's exploit/explore does.
--
--   ./tunelua compare examples/research/triangle.lua --schedulers fifo,pbt --repeat 5
--
-- A trial's accuracy starts at 0; each step it grows fastest when lr is near the optimal lr,
-- which depends on the accuracy reached so far: a triangle wave from 0.001 (accuracy 0) up to
-- 0.01 (accuracy = midpoint = 100) and back down to 0.001 (accuracy 200, where the trial is
-- done). With q = max(lr, opt) / min(lr, opt): q < 3 adds U(0, 1) / q; q >= 3 with lr too
-- high takes away (q - 3) U(0, 1); then N(0, noise^2) is added and accuracy kept >= 0.
--
--    best lr
--      ^       /\
--      |      /  \
--      | ____/    \____
--      +----------------> accuracy
--
-- The optimal lr spans a factor of 10 and a step only helps within a factor of 3, so a fixed lr
-- that helps at the start (<= 0.003) stalls below the top of the wave (accuracy ~ 90) and one
-- that suits the top never gets off the ground; a population that copies its leaders and
-- perturbs lr (x 1.2 or x 0.8, or a fresh draw) follows the wave to 200.
-- spec/research_spec.lua checks PBT against FIFO for fixed seeds.
local tune = require "tunelua"

local max, min = math.max, math.min
local midpoint, tolerance, noise = 100, 3, 1

-- The optimal lr at accuracy a: the triangle wave, clamped to [0.001, 0.01].
local function optimal(a)
  local lr = a < midpoint and 0.01 * a / midpoint or 0.01 - 0.01 * (a - midpoint) / midpoint
  return min(0.01, max(0.001, lr))
end

-- One step: state.accuracy is the trainer's "weights" (copied by a PBT exploit).
local function step(config, _, state, rng)
  local a = state.accuracy or 0
  local lr, opt = config.lr, optimal(a)
  local q = max(lr, opt) / min(lr, opt)
  if q < tolerance then
    a = a + rng:random() / q
  elseif lr > opt then
    a = a - (q - tolerance) * rng:random()
  end
  a = max(0, a + noise * rng:normal(0, 1))
  state.accuracy = a
  return { mean_accuracy = a, lr = lr, optimal_lr = opt, q_err = q, done = a > 2 * midpoint }
end

return tune.experiment {
  name = "triangle",
  trainer = { simulate = step, iteration_time = 1 },
  config = { lr = tune.uniform(0.0001, 0.02) },
  num_samples = 8,
  metric = "mean_accuracy", mode = "max",
  stop = { training_iteration = 500 },
  scheduler = tune.schedulers.fifo {},
  schedulers = {
    pbt = tune.schedulers.pbt {
      time_attr = "training_iteration", perturbation_interval = 4, quantile_fraction = 0.25,
      hyperparam_mutations = { lr = tune.uniform(0.0001, 0.02) },
    },
  },
}

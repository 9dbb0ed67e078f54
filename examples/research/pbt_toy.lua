-- The toy problem of the PBT paper (Jaderberg et al. 2017, Figure 2), as an experiment:
--
--   ./tunelua compare examples/research/pbt_toy.lua --schedulers fifo,pbt,pb2 --repeat 3
--
-- Two workers maximise Q(theta) = 1.2 - (theta0^2 + theta1^2) but each only sees the
-- surrogate 1.2 - (h0 theta0^2 + h1 theta1^2) and takes gradient steps (0.01) on it from
-- theta = (0.9, 0.9), with h = (1, 0) and h = (0, 1). Alone (fifo) each shrinks one coordinate
-- and plateaus at Q = 1.2 - 0.81 - (0.9 * 0.98^200)^2 = 0.38975 after 200 steps; PBT copies
-- theta (the simulated state) and h from the better worker every 4 steps and perturbs h, so
-- both coordinates shrink: Q -> 1.2. synch = true as in the paper (docs/schedulers.md gives
-- the asynchronous case, which needs workers of different speeds). The same toy drives
-- spec/schedulers/pbt_spec.lua and pb2_spec.lua; spec/research_spec.lua runs this file.
local tune = require "tunelua"

local function step(config, _, state)
  local th = state.theta
  if not th then
    th = { 0.9, 0.9 }
    state.theta = th
  end
  local h = config.h
  th[1] = th[1] - 0.01 * 2 * h[1] * th[1]
  th[2] = th[2] - 0.01 * 2 * h[2] * th[2]
  return { Q = 1.2 - (th[1] ^ 2 + th[2] ^ 2) }
end

return tune.experiment {
  name = "pbt-toy",
  trainer = { simulate = step, iteration_time = 1 },
  config = { h = tune.grid_search { { 1, 0 }, { 0, 1 } } },
  metric = "Q", mode = "max",
  stop = { training_iteration = 200 },
  scheduler = tune.schedulers.fifo {},
  schedulers = {
    pbt = tune.schedulers.pbt {
      time_attr = "training_iteration", perturbation_interval = 4, quantile_fraction = 0.5,
      hyperparam_mutations = { h = { tune.uniform(0, 1), tune.uniform(0, 1) } }, synch = true,
    },
    pb2 = tune.schedulers.pb2 {
      time_attr = "training_iteration", perturbation_interval = 4, quantile_fraction = 0.5,
      hyperparam_bounds = { h = { { 0, 1 }, { 0, 1 } } }, synch = true,
    },
  },
}

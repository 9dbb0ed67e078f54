-- Learning-curve families: the parametric curve models of Domhan, Springenberg and Hutter
-- (IJCAI 2015, "Speeding up Automatic Hyperparameter Optimization of Deep Neural Networks by
-- Extrapolation of Learning Curves"), as synthetic benchmarks for early-stopping schedulers on
-- the simulate executor. Accuracy y(t) at epoch t = 1, 2, ...:
--
--   pow3       y = c - a t^-alpha
--   ilog2      y = c - a / log(t + 1)
--   janoschek  y = alpha - (alpha - beta) exp(-kappa t^delta)
--   weibull    y = alpha - (alpha - beta) exp(-(kappa t)^delta)
--   mmf        y = alpha - (alpha - beta) / (1 + (kappa t)^delta)
--
-- Every family is put in the same terms: y(1) = beta = 0.1 (chance on ten classes), y rises
-- monotonically towards the asymptote alpha(x) (c in pow3 and ilog2), at a speed kappa(x).
-- A configuration x = (x1, x2) in [0, 1]^2 sets both, as a learning rate and a width might:
--
--   alpha(x) = 0.55 + 0.4 (1 - ((x1 - 0.3)^2 + (x2 - 0.6)^2) / 0.65)    in [0.55, 0.95]
--   kappa(x) = 0.02 * 25^x1                                             in [0.02, 0.5]
--
-- so a large x1 learns fast but ends lower than x1 = 0.3: curves cross, and how soon a
-- scheduler may trust an early ranking depends on the family (ilog2 converges slowest, weibull
-- is sigmoidal). The noise is N(0, 0.01^2) per result from the trial's own stream.
--
--   LC_FAMILY=weibull ./tunelua compare examples/research/curves.lua \
--       --schedulers fifo,asha,hyperband,median,pbt
--
-- API (fields of the returned experiment, as in mf.lua): families (name -> y(t, alpha, kappa)),
-- names (in the order above), asymptote(x1, x2), speed(x1), beta, value(family, config, t).
local tune = require "tunelua"

local exp_, log, max = math.exp, math.log, math.max

local M = { beta = 0.1, names = { "pow3", "ilog2", "janoschek", "weibull", "mmf" } }
local beta = M.beta

-- Each y(t, alpha, kappa) with y(1) = beta. The shape exponents are fixed per family and the
-- speed kappa is mapped into each family's own parameter.
M.families = {
  pow3 = function(t, alpha, kappa)
    local rate = 0.3 + 3 * kappa -- alpha of the paper: 0.36 .. 1.8
    return alpha - (alpha - beta) * t ^ -rate
  end,
  ilog2 = function(t, alpha, kappa)
    -- a / log(t + 1) with a = (alpha - beta) log 2, reached more slowly as kappa is smaller
    local s = 1 + 20 * kappa * (t - 1)
    return alpha - (alpha - beta) * log(2) / log(s + 1)
  end,
  janoschek = function(t, alpha, kappa)
    local delta = 0.8
    return alpha - (alpha - beta) * exp_(-kappa * (t ^ delta - 1))
  end,
  weibull = function(t, alpha, kappa)
    local delta = 1.5
    return alpha - (alpha - beta) * exp_(-((kappa * t) ^ delta - kappa ^ delta))
  end,
  mmf = function(t, alpha, kappa)
    local delta = 1.2
    return alpha - (alpha - beta) * (1 + kappa ^ delta) / (1 + (kappa * t) ^ delta)
  end,
}

function M.asymptote(x1, x2)
  local d = ((x1 - 0.3) ^ 2 + (x2 - 0.6) ^ 2) / 0.65
  return 0.55 + 0.4 * (1 - d)
end

function M.speed(x1)
  return 0.02 * 25 ^ x1
end

function M.value(family, config, t)
  return M.families[family](t, M.asymptote(config.x1, config.x2), M.speed(config.x1))
end

local family = os.getenv("LC_FAMILY") or "pow3"
if not M.families[family] then
  error("curves.lua: LC_FAMILY=" .. family .. " is not one of " .. table.concat(M.names, ", "))
end

local exp = tune.experiment {
  name = "curves-" .. family,
  trainer = {
    simulate = function(config, t, _, rng)
      local y = M.value(family, config, t)
      return { accuracy = max(0, y + 0.01 * rng:normal(0, 1)),
        final = M.value(family, config, 1e9) }
    end,
    iteration_time = 1,
  },
  config = { x1 = tune.uniform(0, 1), x2 = tune.uniform(0, 1) },
  num_samples = 81,
  metric = "accuracy", mode = "max",
  stop = { training_iteration = 100 },
  max_concurrent = 8,
  scheduler = tune.schedulers.asha { max_t = 100, grace_period = 1, reduction_factor = 3 },
  schedulers = {
    asha = tune.schedulers.asha { max_t = 100, grace_period = 1, reduction_factor = 3 },
    hyperband = tune.schedulers.hyperband { max_t = 100, reduction_factor = 3 },
    median = tune.schedulers.median { time_attr = "training_iteration", grace_period = 5 },
    pbt = tune.schedulers.pbt {
      time_attr = "training_iteration", perturbation_interval = 10,
      hyperparam_mutations = { x1 = tune.uniform(0, 1), x2 = tune.uniform(0, 1) },
    },
  },
}
for k, v in pairs(M) do exp[k] = v end
return exp

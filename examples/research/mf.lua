-- A synthetic multi-fidelity benchmark: a family of learning curves with no data behind them,
-- for studying early-stopping schedulers on the simulate executor. The file is an experiment
-- (81 configurations, 81 iterations each, virtual clock) that also carries the functions below,
-- so other experiment files build on it with dofile:
--
--   ./tunelua examples/research/mf.lua --seed 1 [--scheduler fifo|asha|hyperband|median|pbt]
--   ./tunelua compare examples/research/mf.lua --schedulers fifo,asha,hyperband,median,pbt \
--       --repeat 5 --executor simulate
--   MF_PRESET=bad ./tunelua examples/research/mf.lua      (any preset below)
--
--   f(x, t) = final(x) + c(x) * t^-a + sigma * t^-b * N(0, 1),    x in [0, 1]^d, t = 1, 2, ...
--
-- final(x) is what the trial converges to (lower is better): a shifted sphere with a cosine
-- ripple, minimum 0 at x = opt. c(x) * t^-a is the bias of low fidelity, vanishing with t.
-- The noise shrinks as t^-b and comes from the trial's own stream, so a trial's curve is the
-- same under every scheduler for a given seed.
--
-- Presets (how well a low fidelity ranks configurations as the highest does), from good to
-- terrible (M.order): the Spearman correlation of f(x, t) with final(x), averaged over the rungs
-- t = 1, 3, 9, 27 of ASHA with eta = 3, is about 1.00, 0.87, 0.82, 0.23, -0.93 (400 random x;
-- spec/research_spec.lua checks the order):
--   good      c(x) grows with final(x): bad configs also look bad early (rank correlation ~ 1)
--   noisy     like good, with large noise at low t
--   flat      c(x) the same for every config, with noise: low fidelity ranks by final(x)
--             alone, blurred
--   bad       c(x) shrinks with final(x), steeply: the best configs start slowest, so ranks at
--             t below ~7 are inverted
--   terrible  like bad with a stronger bias that fades slower (a = 0.4) and noise: ranks stay
--             inverted until t ~ 30
--
-- API
--   mf.preset(name_or_table)      the parameter table (d, a, b, c0, sigma, corr, opt, ripple)
--   mf.final(x, p)                final(x) for a list x of d numbers
--   mf.value(x, t, p, z)          f(x, t) for a standard normal draw z
--   mf.space(p, tune)             the config table: x1 .. xd = tune.uniform(0, 1)
--   mf.point(config, p)           the list x of a config
--   mf.trainer(p)                 trainer.simulate for tune.experiment: reports
--                                 { loss = f(x, t), final = final(x) }
local cos, pi, max = math.cos, math.pi, math.max
local type, pairs, error, tostring = type, pairs, error, tostring

local M = {}

local presets = {
  good = { d = 3, a = 0.8, b = 0.5, c0 = 1.0, sigma = 0.02, corr = 1 },
  bad = { d = 3, a = 0.8, b = 0.5, c0 = 10, sigma = 0.02, corr = -1 },
  noisy = { d = 3, a = 0.8, b = 0.5, c0 = 1.0, sigma = 0.3, corr = 1 },
  flat = { d = 3, a = 0.8, b = 0.5, c0 = 1.0, sigma = 0.3, corr = 0 },
  terrible = { d = 3, a = 0.4, b = 0.5, c0 = 10, sigma = 0.3, corr = -1 },
}
M.order = { "good", "noisy", "flat", "bad", "terrible" }

function M.preset(p)
  if type(p) == "string" then
    local base = presets[p]
    if not base then
      error("mf: unknown preset '" .. p .. "' (" .. table.concat(M.order, ", ") .. ")", 2)
    end
    p = base
  end
  if type(p) ~= "table" then error("mf: a preset is a name or a table, got " .. tostring(p), 2) end
  local out = { d = 3, a = 0.8, b = 0.5, c0 = 1.0, sigma = 0.02, corr = 1, ripple = 0.1 }
  for k, v in pairs(p) do out[k] = v end
  if not out.opt then
    out.opt = {}
    for i = 1, out.d do out.opt[i] = 0.2 + 0.6 * ((i * 0.618034) % 1) end
  end
  -- the largest final(x) over the cube, for scaling c(x) into [0, 1]
  local worst = 0
  for i = 1, out.d do
    local far = max(out.opt[i], 1 - out.opt[i])
    worst = worst + far * far + 2 * out.ripple
  end
  out.worst = worst
  return out
end

function M.final(x, p)
  local s = 0
  for i = 1, p.d do
    local u = x[i] - p.opt[i]
    s = s + u * u + p.ripple * (1 - cos(6 * pi * u))
  end
  return s
end

-- c(x): 0.2..1.2 times c0, increasing in final(x) when corr > 0, decreasing when corr < 0,
-- 0.7 c0 for every x when corr = 0.
local function bias(p, fin)
  local g = fin / p.worst
  if p.corr < 0 then g = 1 - g elseif p.corr == 0 then g = 0.5 end
  return p.c0 * (0.2 + g)
end

function M.value(x, t, p, z)
  local fin = M.final(x, p)
  return fin + bias(p, fin) * t ^ -p.a + p.sigma * t ^ -p.b * z, fin
end

function M.space(p, tune)
  local s = {}
  for i = 1, p.d do s["x" .. i] = tune.uniform(0, 1) end
  return s
end

function M.point(config, p)
  local x = {}
  for i = 1, p.d do x[i] = config["x" .. i] end
  return x
end

-- The noise is one N(0, 1) draw per result from the trial's own rng. x is read from the config
-- at every step, so a PBT exploit (new config, copied progress t) takes effect at once.
function M.trainer(p)
  return function(config, t, _, rng)
    local z = rng:normal(0, 1)
    local v, fin = M.value(M.point(config, p), t, p, z)
    return { loss = v, final = fin }
  end
end

-- The experiment: random search over x, every trial to t = 81 unless its scheduler stops it;
-- `schedulers` names the options each scheduler gets under `--scheduler NAME` and in
-- `tunelua compare --schedulers NAME` (the brackets of HyperBand and ASHA span 1..81 with
-- eta = 3; PBT perturbs x every 9 iterations in a population of the 8 concurrent trials).
local tune = require "tunelua"
local p = M.preset(os.getenv("MF_PRESET") or "good")
local exp = tune.experiment {
  name = "mf",
  trainer = { simulate = M.trainer(p), iteration_time = 1 },
  config = M.space(p, tune),
  num_samples = 81,
  metric = "loss", mode = "min",
  stop = { training_iteration = 81 },
  max_concurrent = 8,
  scheduler = tune.schedulers.asha { max_t = 81, grace_period = 1, reduction_factor = 3 },
  schedulers = {
    asha = tune.schedulers.asha { max_t = 81, grace_period = 1, reduction_factor = 3 },
    hyperband = tune.schedulers.hyperband { max_t = 81, reduction_factor = 3 },
    median = tune.schedulers.median { time_attr = "training_iteration", grace_period = 3 },
    pbt = tune.schedulers.pbt {
      time_attr = "training_iteration", perturbation_interval = 9,
      hyperparam_mutations = M.space(p, tune),
    },
  },
}
-- the functions above stay reachable: dofile("examples/research/mf.lua").preset("bad")
for k, v in pairs(M) do exp[k] = v end
return exp

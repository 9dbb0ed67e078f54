-- A synthetic multi-fidelity benchmark: a family of learning curves with no data behind them,
-- for studying early-stopping schedulers on the simulate executor.
--
--   f(x, t) = final(x) + c(x) * t^-a + sigma * t^-b * N(0, 1),    x in [0, 1]^d, t = 1, 2, ...
--
-- final(x) is what the trial converges to (lower is better): a shifted sphere with a cosine
-- ripple, minimum 0 at x = opt. c(x) * t^-a is the bias of low fidelity, vanishing with t.
-- The noise shrinks as t^-b and comes from the trial's own stream, so a trial's curve is the
-- same under every scheduler for a given seed.
--
-- Presets (how well a low fidelity ranks configurations as the highest does):
--   good  c(x) grows with final(x): bad configs also look bad early (rank correlation ~ 1)
--   bad   c(x) shrinks with final(x), steeply: the best configs start slowest, so ranks at
--         t below ~7 are inverted
--   noisy like good, with large noise at low t
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
}

function M.preset(p)
  if type(p) == "string" then
    local base = presets[p]
    if not base then error("mf: unknown preset '" .. p .. "' (good, bad, noisy)", 2) end
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

-- c(x): 0.2..1.2 times c0, increasing in final(x) when corr > 0, decreasing when corr < 0.
local function bias(p, fin)
  local g = fin / p.worst
  if p.corr < 0 then g = 1 - g end
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

-- The noise is one N(0, 1) draw per result from the trial's own rng.
function M.trainer(p)
  return function(config, t, state, rng)
    state.x = state.x or M.point(config, p)
    local z = rng:normal(0, 1)
    local v, fin = M.value(state.x, t, p, z)
    return { loss = v, final = fin }
  end
end

return M

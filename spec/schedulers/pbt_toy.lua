-- The toy problem of the PBT paper (Jaderberg et al. 2017, Figure 2) as an experiment source,
-- and a runner for it; shared by pbt_spec.lua and pb2_spec.lua.
local H = require "spec.e2e.helpers"

local T = {}

-- The toy of the PBT paper, Figure 2: Q(θ) = 1.2 − (θ0² + θ1²); each worker only sees the
-- surrogate Q̂(θ|h) = 1.2 − (h0·θ0² + h1·θ1²) and takes gradient steps θ ← θ + 0.01·∇Q̂ on
-- it; both start at θ = (0.9, 0.9), with h = (1, 0) and h = (0, 1), and report Q(θ). PBT
-- copies θ (the simulated state) and h, then explores h. Without exploit each worker only
-- shrinks one coordinate: Q → 1.2 − 0.81 = 0.39.
local function toy(sched, o)
  o = o or {}
  return table.concat({
    'local tune = require "tunelua"',
    "return tune.experiment {",
    "  trainer = {",
    "    simulate = function(config, _, state)",
    "      local th = state.theta",
    "      if not th then th = { 0.9, 0.9 }; state.theta = th end",
    "      local h = config.h",
    "      th[1] = th[1] - 0.01 * 2 * h[1] * th[1]",
    "      th[2] = th[2] - 0.01 * 2 * h[2] * th[2]",
    "      return { Q = 1.2 - (th[1] ^ 2 + th[2] ^ 2) }",
    "    end,",
    "    iteration_time = " .. (o.iteration_time or "1") .. ",",
    "  },",
    "  config = { h = tune.grid_search { { 1, 0 }, { 0, 1 } } },",
    '  metric = "Q", mode = "max",',
    "  stop = { training_iteration = 200 },",
    "  scheduler = " .. sched .. ",",
    "}",
  }, "\n")
end
T.toy = toy

-- Runs an experiment source with the source tree's schedulers; returns the final Q of each
-- trial, the number of exploits and the journal.
local function run_toy(src, seed)
  local exp = H.experiment(src, "toy.lua")
  local dir = H.tmpdir() .. "/run"
  local r = H.run { exp, "--dir", dir, "--seed", tostring(seed or 1), "--quiet",
    "--lua-dir", H.root }
  assert(r.code == 0, H.describe(r))
  local qs = {}
  for i, t in ipairs(H.summary(dir).trials) do qs[i] = t.last_result.Q end
  local journal = H.journal(dir)
  local exploits = 0
  for _, e in ipairs(journal) do
    if e.ev == "exploit" then exploits = exploits + 1 end
  end
  return qs, exploits, journal
end
T.run = run_toy

return T

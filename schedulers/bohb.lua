-- BOHB (Falkner, Klein and Hutter, ICML 2018, "BOHB: Robust and Efficient Hyperparameter
-- Optimization at Scale"): the searcher half. Pair it with the hyperband scheduler and the
-- same max_t and reduction_factor; HyperBand's brackets decide budgets and promotions, this
-- searcher proposes the configs that enter them.
--
-- Every result at a rung budget (time_attr equal to some r_i of the brackets) is an
-- observation of (config, budget, metric). A new config comes from the largest budget that
-- has at least min_points_in_model + 2 observations: the best top_n_percent of them (at
-- least min_points_in_model) make the "good" kernel density, the next ones the "bad" one
-- (multivariate Gaussian kernels, normal-reference bandwidths, as BOHB's statsmodels KDE);
-- num_samples draws from the good density with bandwidths times bandwidth_factor, and the
-- one with the largest good/bad ratio wins. A random_fraction of configs (and every config
-- while no budget has enough observations) is drawn from the prior.

local dsl = require "tunelua.dsl"
local parzen = require "tunelua.parzen"
local S = require "tunelua.searchers"
local TPE = require("schedulers.tpe").TPE
local brackets = require("schedulers.hyperband").brackets

local type, ipairs, setmetatable = type, ipairs, setmetatable
local floor, max, abs, huge = math.floor, math.max, math.abs, math.huge
local sort = table.sort

local R = S.rules
local OPTIONS = {
  metric = R.string, mode = R.mode, time_attr = R.string, max_t = R.number(1, huge),
  reduction_factor = R.number(1, huge, true), min_points_in_model = R.int(1),
  top_n_percent = R.number(0, 100, true), num_samples = R.int(1),
  random_fraction = R.number(0, 1), bandwidth_factor = R.number(0, huge, true),
  min_bandwidth = R.number(0, huge, true), points_to_evaluate = R.table, max_trials = R.int(1),
  max_concurrent = R.int(1),
}

local BOHB = {}
BOHB.__index = BOHB
for _, k in ipairs { "config_of", "vec_of", "order_of" } do BOHB[k] = TPE[k] end

function BOHB:setup(exp)
  TPE.common_setup(self, exp)
  self.budgets = {}
  for _, b in ipairs(brackets(self.max_t, self.eta)) do
    for _, rung in ipairs(b.rungs) do self.budgets[#self.budgets + 1] = rung.r end
  end
  sort(self.budgets)
  self.obs = {}           -- budget -> id -> { id, loss, order }
  self.ranked = {}        -- budget -> its observations sorted by (loss, order)
  self.joint = {}
  for _, p in ipairs(self.params) do
    if p.cond == nil then self.joint[#self.joint + 1] = p end
  end
  self.min_points = self.min_points_opt or (#self.joint + 1)
  self.stats = { random = 0, model = 0, points = 0, budgets = {} }
end

-- The rung budget equal to t (within rounding), or nil.
function BOHB:_budget(t)
  if type(t) ~= "number" then return nil end
  for _, b in ipairs(self.budgets) do
    if abs(b - t) <= 1e-9 * max(1, b) then return b end
  end
end

function BOHB:on_result(id, result)
  local b = self:_budget(result[self.time_attr])
  if not b then return end
  local loss = S.score(result, self.metric, self.mode)
  if not loss then return end
  local at = self.obs[b]
  if not at then
    at = {}
    self.obs[b], self.ranked[b] = at, {}
  end
  local ranked, old = self.ranked[b], at[id]
  if old then -- a second result at this budget replaces the first
    local lo, hi = 1, #ranked -- the first not before old, then old itself
    while lo < hi do
      local mid = floor((lo + hi) / 2)
      if TPE.loss_lt(ranked[mid], old) then lo = mid + 1 else hi = mid end
    end
    while lo <= #ranked and ranked[lo] ~= old do lo = lo + 1 end
    if ranked[lo] == old then table.remove(ranked, lo) end
  end
  local e = { id = id, loss = loss, order = self:order_of(id) }
  at[id] = e
  TPE.insert_sorted(ranked, e, TPE.loss_lt)
end

function BOHB.on_trial_complete() end

-- The largest budget with enough observations, or nil.
function BOHB:_model_budget()
  local need = self.min_points + 2
  for i = #self.budgets, 1, -1 do
    local b = self.budgets[i]
    local ranked = self.ranked[b]
    if ranked and #ranked >= need then return b end
  end
end

local function dims_of(ps)
  local dims = {}
  for d, p in ipairs(ps) do
    dims[d] = p.kind == "cat" and { kind = "cat", n = p.n }
      or { kind = "num", low = p.low, high = p.high }
  end
  return dims
end

function BOHB:_model(b, r)
  local entries = self.ranked[b] -- kept sorted as results come
  local n = #entries
  local ps = self.joint
  local n_good = max(self.min_points, floor(self.top_n_percent * n / 100))
  local n_bad = max(self.min_points, floor((100 - self.top_n_percent) * n / 100))
  local good, bad = {}, {}
  for i = 1, n do
    if i <= n_good then good[#good + 1] = entries[i]
    elseif i <= n_good + n_bad then bad[#bad + 1] = entries[i] end
  end
  local gc, ng = S.columns(self, good, ps)
  local bc, nb = S.columns(self, bad, ps)
  local dims = dims_of(ps)
  local o = { rule = "scott", consider_prior = false, prior_weight = 1,
    min_bandwidth = self.min_bandwidth }
  local l = parzen.fit(dims, gc, parzen.flat_weights(ng), o)
  local g = parzen.fit(dims, bc, parzen.flat_weights(nb), o)
  local best = parzen.propose(l, g, self.num_samples, r, self.bandwidth_factor)
  local vec = {}
  for d, p in ipairs(ps) do vec[p.index] = best[d] end
  return vec
end

function BOHB:suggest(id)
  local i, r, fixed, is_point = TPE.next_trial(self, id)
  if i == nil then return nil end
  local st = self.stats
  local cfg
  local b = self:_model_budget()
  if is_point then
    st.points = st.points + 1
    cfg = dsl.resolve(self.space, r, fixed)
  elseif b == nil or r:random() < self.random_fraction then
    st.random = st.random + 1
    cfg = dsl.resolve(self.space, r, fixed)
  else
    st.model = st.model + 1
    st.budgets[b] = (st.budgets[b] or 0) + 1
    local a = S.assign(self.params, self:_model(b, r))
    cfg = dsl.resolve(self.space, r, S.merge(a, fixed))
  end
  self.configs[id] = cfg
  return cfg
end

local function new(_, opts)
  opts = S.check("bohb", opts, OPTIONS, 2)
  local self = setmetatable({
    name = "bohb",
    opt_metric = opts.metric, opt_mode = opts.mode,
    time_attr = opts.time_attr or "training_iteration",
    max_t = opts.max_t or 81, eta = opts.reduction_factor or 3,
    min_points_opt = opts.min_points_in_model,
    top_n_percent = opts.top_n_percent or 15,
    num_samples = opts.num_samples or 64,
    random_fraction = opts.random_fraction or 1 / 3,
    bandwidth_factor = opts.bandwidth_factor or 3,
    min_bandwidth = opts.min_bandwidth or 1e-3,
    max_trials = opts.max_trials,
    points_opt = opts.points_to_evaluate,
  }, BOHB)
  if opts.max_concurrent then
    return S.limiter({ searcher = self, max_concurrent = opts.max_concurrent }, 2)
  end
  return self
end

return setmetatable({ BOHB = BOHB }, { __call = new })

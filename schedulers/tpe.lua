-- Tree-structured Parzen Estimator (Bergstra et al. 2011, "Algorithms for Hyper-Parameter
-- Optimization"), with the refinements Optuna's TPESampler documents: n_startup_trials,
-- n_ei_candidates, gamma, weights, prior_weight, consider_prior / magic_clip / endpoints,
-- multivariate mode, constant liar.
--
-- Defaults (docs/schedulers.md gives the figures): one joint (multivariate) model of the
-- unconditional parameters, whose kernels take Scott's rule per dimension, sigma =
-- 1.06 * sd * n^(-1/(d+4)), at least min_bandwidth (0.06) of the range, with prior_weight 2
-- (Watanabe 2023, "Tree-Structured Parzen Estimator: Understanding Its Algorithm Components
-- and Their Roles for Better Empirical Performance", recommends multivariate kernels and a
-- minimum bandwidth). Optuna's TPESampler is one option away: multivariate = false
-- (univariate, prior_weight 1, bandwidth_weights on: Optuna 3.1), or
-- multivariate_bandwidth = "optuna", prior_weight = 1 (Optuna's multivariate=True).
--
-- Trial i (0-based) gets exp.rng:derive(i): the first n_startup_trials configs (counted in
-- completed trials, as Optuna) are exactly those of the random searcher. After that, the
-- completed trials are ranked by the metric; the best gamma(n) make l(x), the others g(x)
-- (running trials join g with the worst score when constant_liar is on, so parallel
-- suggestions move apart), and each parameter takes, among n_ei_candidates draws from l, the
-- one maximising l(x) / g(x). Parameters inside a choice value are modelled on the trials
-- that took that branch; sample_from is sampled from the prior (one warning names it).
--
-- What the model learns from is read from the trial's config in exp.trials (the journal's,
-- after a resume), so the searcher behaves the same whether or not it was restarted.

local dsl = require "tunelua.dsl"
local rngmod = require "tunelua.rng"
local parzen = require "tunelua.parzen"
local S = require "tunelua.searchers"

local type, pairs, ipairs, error, tostring, tonumber, setmetatable =
  type, pairs, ipairs, error, tostring, tonumber, setmetatable
local huge, ceil, min, floor, log = math.huge, math.ceil, math.min, math.floor, math.log
local ffi = require "ffi"
local darr = ffi.typeof("double[?]")
local tnew = require "table.new"
local sort, format = table.sort, string.format

local R = S.rules
local OPTIONS = {
  n_startup_trials = R.int(0), n_ei_candidates = R.int(1), gamma = R.fn_or_number,
  weights = function(v) if type(v) ~= "function" then return "must be a function(n)" end end,
  prior_weight = R.number(0, huge, true), consider_prior = R.bool, consider_magic_clip = R.bool,
  consider_endpoints = R.bool, bandwidth_weights = R.bool, multivariate = R.bool,
  multivariate_bandwidth = function(v)
    if v ~= "scott" and v ~= "optuna" then return "must be \"scott\" or \"optuna\"" end
  end,
  min_bandwidth = R.number(0, 1, true),
  constant_liar = R.bool,
  intermediate = R.bool, metric = R.string, mode = R.mode, max_trials = R.int(1),
  points_to_evaluate = R.table, max_concurrent = R.int(1),
}

local TPE = {}
TPE.__index = TPE

-- Shared with bohb.lua: the space, the grid, the trial count, points and the rng.
function TPE.common_setup(self, exp)
  self.exp = exp
  self.space = exp.space or {}
  dsl.validate(self.space)
  self.metric = self.opt_metric or exp.metric
  self.mode = self.opt_mode or exp.mode
  if type(self.metric) ~= "string" or (self.mode ~= "min" and self.mode ~= "max") then
    error(format("%s: needs a metric and a mode (\"min\" or \"max\"), got metric %s and mode %s;" ..
      " set them in the experiment or in %s { ... }", self.name, tostring(self.metric),
      tostring(self.mode), self.name), 0)
  end
  self.grid = dsl.grid(self.space)
  self.rng = exp.rng or rngmod.new(exp.seed or 0):derive("searcher")
  self.total = (exp.num_samples or 1) * #self.grid
  if self.max_trials then self.total = min(self.total, self.max_trials) end
  self.params = S.model(self.space, exp.warn or S.warn, self.name)
  self.points = S.points(self.space, self.points_opt, self.name)
  self.count, self.configs, self.order, self.vecs = 0, {}, {}, {}
  self.views, self.scanned = {}, 0
  self.extra_order = 0
end

-- The config a trial ran with: its view's (the journal's on resume), else what was suggested.
function TPE.config_of(self, id)
  local trials = self.exp.trials
  if trials then
    local i = tonumber(id)
    local v = i and trials[i + 1]
    if v and v.id == id then return v.config end
    for j = self.scanned + 1, #trials do self.views[trials[j].id] = trials[j] end
    self.scanned = #trials
    v = self.views[id]
    if v then return v.config end
  end
  return self.configs[id]
end

function TPE.vec_of(self, id)
  local v = self.vecs[id]
  if not v then
    local c = self:config_of(id)
    v = c and S.extract(self.params, c) or {}
    self.vecs[id] = v
  end
  return v
end

-- Trial order (for the weights): the suggestion number, or after the last one for trials
-- this searcher did not suggest.
function TPE.order_of(self, id)
  local o = self.order[id]
  if not o then
    self.extra_order = self.extra_order + 1
    o = 1e9 + self.extra_order
    self.order[id] = o
  end
  return o
end

-- The next trial number, its rng and fixed assignment (grid point, point to evaluate), or
-- nil when all were given.
function TPE.next_trial(self, id)
  local i = self.count
  if i >= self.total then return nil end
  self.count = i + 1
  self.order[id] = i
  self.vecs[id] = nil
  local fixed = S.merge(self.grid[i % #self.grid + 1], self.points[i + 1])
  return i, self.rng:derive(i), fixed, self.points[i + 1] ~= nil
end

function TPE:setup(exp)
  TPE.common_setup(self, exp)
  self.done, self.ndone = {}, 0      -- id -> { id, loss, order }
  self.by_order, self.by_loss = {}, {} -- the done entries by order, by (loss, order)
  self.running = {}                  -- id -> true
  self.latest = {}                   -- id -> latest intermediate loss
  self.joint = {}
  self.sorted = {} -- index -> the done entries by that (unconditional, numeric) value
  for _, p in ipairs(self.params) do
    if p.cond == nil then
      if self.multivariate then
        self.joint[#self.joint + 1] = p
      elseif p.kind == "num" then
        self.sorted[p.index] = {}
      end
    end
  end
  if #self.joint > 0 then
    -- the joint parameters of the completed trials, a row each in by_order's order (NaN:
    -- absent), and their orders: what g(x) is fitted from (fit_joint_above)
    self.rcap = 64
    self.rows, self.rord = darr(self.rcap * #self.joint), darr(self.rcap)
  end
end

-- Puts e's row at position p (1-based, by_order's) of the rows.
function TPE:_insert_row(p, e)
  local D, n = #self.joint, #self.by_order
  if n > self.rcap then
    local cap = 2 * self.rcap
    local rows, rord = darr(cap * D), darr(cap)
    ffi.copy(rows, self.rows, (n - 1) * D * 8)
    ffi.copy(rord, self.rord, (n - 1) * 8)
    self.rows, self.rord, self.rcap = rows, rord, cap
  end
  local rows, rord = self.rows, self.rord
  for i = n - 1, p, -1 do
    rord[i] = rord[i - 1]
    for d = 0, D - 1 do rows[i * D + d] = rows[(i - 1) * D + d] end
  end
  rord[p - 1] = e.order
  for d = 1, D do
    local x = e.vec[self.joint[d].index]
    rows[(p - 1) * D + d - 1] = x == nil and 0 / 0 or x
  end
end

local function fit_opts(self, rule, d)
  return { rule = rule, consider_prior = self.consider_prior, prior_weight = self.prior_weight,
    magic_clip = self.consider_magic_clip, endpoints = self.consider_endpoints,
    bandwidth_weights = self.bandwidth_weights, min_bandwidth = self.min_bandwidth, scott_d = d }
end

local function dims_of(ps)
  local dims = {}
  for d, p in ipairs(ps) do
    if p.kind == "cat" then
      dims[d] = { kind = "cat", n = p.n }
    else
      dims[d] = { kind = "num", low = p.low, high = p.high, prior_mu = p.prior_mu,
        prior_sigma = p.prior_sigma }
    end
  end
  return dims
end

-- The columns of entries (in trial order) for the parameters ps, from the trials where all
-- of ps are present, and their number.
local function columns(self, entries, ps)
  local D, ne = #ps, #entries
  local cols, idx, n = {}, {}, 0
  for d = 1, D do cols[d], idx[d] = tnew(ne, 0), ps[d].index end
  for i = 1, ne do
    local e = entries[i]
    local v = e.vec or self:vec_of(e.id)
    local ok = true
    for d = 1, D do
      if v[idx[d]] == nil then ok = false; break end
    end
    if ok then
      n = n + 1
      for d = 1, D do cols[d][n] = v[idx[d]] end
    end
  end
  return cols, n
end
S.columns = columns

local function loss_lt(a, b)
  if a.loss ~= b.loss then return a.loss < b.loss end
  return a.order < b.order
end

local function order_lt(a, b) return a.order < b.order end

-- Inserts e into the array a sorted by lt (after its equals), by binary search.
local function insert_sorted(a, e, lt)
  local lo, hi = 1, #a + 1
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    if lt(e, a[mid]) then hi = mid else lo = mid + 1 end
  end
  table.insert(a, lo, e)
  return lo
end
TPE.insert_sorted, TPE.loss_lt = insert_sorted, loss_lt

-- g(x) for the numeric parameter d from the entries sorted by its value (and the extra ones,
-- merged in): parzen.fit_sorted, or nil when some entry of above lacks d (then the columns
-- and parzen.fit decide).
local function fit_above(self, sorted, d, extra, below_set, dim, o, nab, wa, lwa)
  local ex = {}
  for _, e in ipairs(extra) do
    if not below_set[e] then
      local x = self:vec_of(e.id)[d]
      if x == nil then return nil end
      ex[#ex + 1] = { x = x, rank = e.rank }
    end
  end
  if #ex > 1 then sort(ex, function(a, b) return a.x < b.x end) end
  local sv, slw = darr(nab), darr(nab)
  local n, wsum, j, nx = 0, 0, 1, #ex
  for i = 1, #sorted + 1 do
    local e = sorted[i]
    local x = e and e.vec[d]
    while j <= nx and (x == nil or ex[j].x <= x) do
      local r = ex[j].rank
      sv[n], slw[n], wsum, n = ex[j].x, lwa[r], wsum + wa[r], n + 1
      j = j + 1
    end
    if e and not below_set[e] then
      if n >= nab then return nil end
      sv[n], slw[n], wsum, n = x, lwa[e.rank], wsum + wa[e.rank], n + 1
    end
  end
  if n ~= nab then return nil end
  return parzen.fit_sorted(dim, sv, slw, n, wsum, o)
end

-- g(x) of the joint parameters (dims, options o) from the rows of the completed trials
-- (self.rows, in trial order) and the extra entries (sorted by order), leaving out those in
-- below_set: no walk over the entries' tables, which at 10,000 trials took most of a
-- suggestion in cache misses. nil when some trial lacks a joint parameter (the columns
-- decide then), when the rows do not hold the nab trials of above, or fit_rows declines.
local function fit_joint_above(self, extra, below_set, nab, dims, o)
  local D, rows, rord, nd, joint = #self.joint, self.rows, self.rord, #self.by_order, self.joint
  local skip = {} -- the rows of the best completed trials, by position
  for e in pairs(below_set) do
    if self.done[e.id] == e then
      local lo, hi = 0, nd - 1
      while lo < hi do
        local mid = floor((lo + hi) / 2)
        if rord[mid] < e.order then lo = mid + 1 else hi = mid end
      end
      skip[#skip + 1] = lo
    end
  end
  sort(skip)
  local X = darr(nab * D + 1)
  local n, i, j, k, nx = 0, 0, 1, 1, #extra
  while i < nd or j <= nx do
    local ex = extra[j]
    if ex and (i >= nd or ex.order < rord[i]) then
      j = j + 1
      if not below_set[ex] then
        if n >= nab then return nil end
        local v = self:vec_of(ex.id)
        for d = 1, D do
          local x = v[joint[d].index]
          if x == nil then return nil end
          X[n * D + d - 1] = x
        end
        n = n + 1
      end
    else
      if skip[k] == i then
        k = k + 1
      else
        if n >= nab then return nil end
        for d = 0, D - 1 do
          local x = rows[i * D + d]
          if x ~= x then return nil end
          X[n * D + d] = x
        end
        n = n + 1
      end
      i = i + 1
    end
  end
  if n ~= nab then return nil end
  return parzen.fit_rows(dims, X, n, self.weights(n), o)
end

-- The model's vector for a new trial.
function TPE:_model(r)
  -- the completed trials (kept sorted as they arrive) and the running ones the model sees
  local extra = {}
  if self.constant_liar or self.intermediate then
    for id in pairs(self.running) do
      local loss = self.intermediate and self.latest[id] or nil
      if loss or self.constant_liar then
        extra[#extra + 1] = { id = id, loss = loss or huge, order = self:order_of(id) }
      end
    end
  end
  local by_loss, by_order = self.by_loss, self.by_order
  local nd, nx = #by_order, #extra
  local n = nd + nx
  local nb = min(self.gamma(n), n)
  -- the best nb: a merge of the two by (loss, order), then in trial order
  local below_set, below = {}, {}
  if nx > 0 then sort(extra, loss_lt) end
  local i, j = 1, 1
  for k = 1, nb do
    local a, b = by_loss[i], extra[j]
    if b == nil or (a ~= nil and loss_lt(a, b)) then
      below[k] = a; i = i + 1
    else
      below[k] = b; j = j + 1
    end
    below_set[below[k]] = true
  end
  sort(below, order_lt)
  if nx > 1 then sort(extra, order_lt) end
  local nab = n - nb
  -- the others in trial order, ranked (for the weights): only when a model needs them
  local above
  local function get_above()
    if above then return above end
    above = {}
    local na, ia, ja = 0, 1, 1
    for _ = 1, n do
      local a, b = by_order[ia], extra[ja]
      local e
      if b == nil or (a ~= nil and a.order < b.order) then
        e = a; ia = ia + 1
      else
        e = b; ja = ja + 1
      end
      if not below_set[e] then
        na = na + 1; above[na] = e
        e.rank = na
      end
    end
    return above
  end
  local vec = {}
  local wa, lwa -- the weights of the whole of above by rank (in trial order), their logs
  local function propose(ps, rule)
    local lo, nl = columns(self, below, ps)
    local dims = dims_of(ps)
    local o = fit_opts(self, rule, #ps)
    local l = parzen.fit(dims, lo, self.weights(nl), o)
    local g
    if ps == self.joint and self.rows then
      g = fit_joint_above(self, extra, below_set, nab, dims, o)
    end
    local sorted = not g and #ps == 1 and nab > 0 and self.sorted[ps[1].index]
    if sorted then
      if not wa then
        wa, lwa = self.weights(nab), {}
        for k = 1, nab do lwa[k] = log(wa[k]) end
      end
      get_above() -- for the entries' ranks
      g = fit_above(self, sorted, ps[1].index, extra, below_set, dims[1], o, nab, wa, lwa)
    end
    if not g then
      local hi, nh = columns(self, get_above(), ps)
      g = parzen.fit(dims, hi, self.weights(nh), o)
    end
    local best = parzen.propose(l, g, self.n_ei_candidates, r)
    for d, p in ipairs(ps) do vec[p.index] = best[d] end
  end
  if #self.joint > 0 then
    propose(self.joint, self.multivariate_bandwidth == "scott" and "scott" or "multivariate")
  end
  -- the others one at a time, parents first; an inactive branch is skipped
  for _, p in ipairs(self.params) do
    local c = p.cond
    if vec[p.index] == nil and (c == nil or vec[c.parent.index] == c.idx) then
      propose({ p }, "neighbors")
    end
  end
  return vec
end

function TPE:suggest(id)
  local i, r, fixed, is_point = TPE.next_trial(self, id)
  if i == nil then return nil end
  local cfg
  if is_point or self.ndone < self.n_startup_trials then
    cfg = dsl.resolve(self.space, r, fixed)
  else
    local a = S.assign(self.params, self:_model(r))
    cfg = dsl.resolve(self.space, r, S.merge(a, fixed))
  end
  self.configs[id] = cfg
  self.running[id] = true
  return cfg
end

function TPE:on_result(id, result)
  if self.intermediate then
    self.latest[id] = S.score(result, self.metric, self.mode)
  end
end

-- A completed trial joins the model; a failed one (or one without the metric) is dropped,
-- as Optuna drops FAIL trials.
function TPE:on_trial_complete(id, result, err)
  self.running[id] = nil
  self.latest[id] = nil
  local loss = not err and S.score(result, self.metric, self.mode)
  if loss and not self.done[id] then
    local e = { id = id, loss = loss, order = self:order_of(id), vec = self:vec_of(id) }
    self.done[id] = e
    local p = insert_sorted(self.by_order, e, order_lt)
    if self.rows then self:_insert_row(p, e) end
    insert_sorted(self.by_loss, e, loss_lt)
    for d, a in pairs(self.sorted) do
      local x = e.vec[d]
      if x ~= nil then
        local lo, hi = 1, #a + 1
        while lo < hi do
          local mid = floor((lo + hi) / 2)
          if x < a[mid].vec[d] then hi = mid else lo = mid + 1 end
        end
        table.insert(a, lo, e)
      end
    end
    self.ndone = self.ndone + 1
  end
end

local function new(_, opts)
  opts = S.check("tpe", opts, OPTIONS, 2)
  local g = opts.gamma
  local gamma = parzen.gamma
  if type(g) == "number" then
    gamma = function(n) return ceil(g * n) end
  elseif g then
    gamma = g
  end
  local multivariate = opts.multivariate ~= false
  local self = setmetatable({
    name = "tpe",
    n_startup_trials = opts.n_startup_trials or 10,
    n_ei_candidates = opts.n_ei_candidates or 24,
    gamma = gamma,
    weights = opts.weights or parzen.ramp_weights,
    prior_weight = opts.prior_weight or (multivariate and 2 or 1),
    consider_prior = opts.consider_prior ~= false,
    consider_magic_clip = opts.consider_magic_clip ~= false,
    consider_endpoints = opts.consider_endpoints == true,
    multivariate = multivariate,
    multivariate_bandwidth = opts.multivariate_bandwidth or "scott",
    min_bandwidth = opts.min_bandwidth or 0.06,
    bandwidth_weights = opts.bandwidth_weights ~= false,
    constant_liar = opts.constant_liar ~= false,
    intermediate = opts.intermediate == true,
    opt_metric = opts.metric, opt_mode = opts.mode,
    max_trials = opts.max_trials,
    points_opt = opts.points_to_evaluate,
  }, TPE)
  if opts.max_concurrent then
    return S.limiter({ searcher = self, max_concurrent = opts.max_concurrent }, 2)
  end
  return self
end

return setmetatable({ TPE = TPE }, { __call = new })

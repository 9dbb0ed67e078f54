-- TPE, BOHB and the searcher wrappers, driven by hand (no engine): fast and deterministic.
local dsl = require "tunelua.dsl"
local rng = require "tunelua.rng"
local tpe = require "schedulers.tpe"
local bohb = require "schedulers.bohb"
local random = require "schedulers.random"
local hyperband = require "schedulers.hyperband"
local limiter = require "schedulers.limiter"
local repeater = require "schedulers.repeater"

local pi, cos = math.pi, math.cos

local function branin(x1, x2, z)
  z = z or 1
  local b = 5.1 / (4 * pi * pi) - 0.01 * (1 - z)
  local c = 5 / pi - 0.1 * (1 - z)
  local t = 1 / (8 * pi) + 0.05 * (1 - z)
  return (x2 - b * x1 * x1 + c * x1 - 6) ^ 2 + 10 * (1 - t) * cos(x1) + 10
end

local function ctx(space, n, seed, extra)
  local e = { space = space, num_samples = n, rng = rng.new(seed or 1):derive("searcher"),
    metric = "loss", mode = "min", trials = {}, seed = seed or 1, warn = function() end }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- Sequential optimisation: suggest, evaluate, complete; returns the best loss and configs.
local function optimise(s, space, n, f, seed)
  s:setup(ctx(space, n, seed))
  local best, cs = math.huge, {}
  for i = 1, n do
    local id = string.format("%05d", i - 1)
    local c = s:suggest(id)
    if c == nil then break end
    cs[#cs + 1] = c
    local v = f(c)
    best = math.min(best, v)
    s:on_trial_complete(id, { loss = v })
  end
  return best, cs
end

local BRANIN = { x1 = dsl.uniform(-5, 10), x2 = dsl.uniform(0, 15) }

-- a (a mixture's logpdf) against log(sum(exp(terms))), the kernels' terms summed with their
-- largest m taken out, to 1e-9 relative.
local function same_log(a, m, terms, what)
  local sum = 0
  for k = 1, #terms do sum = sum + math.exp(terms[k] - m) end
  local b = m + math.log(sum)
  assert.is_true(math.abs(a - b) <= 1e-9 * math.max(1, math.abs(b)),
    (what or "") .. a .. " vs " .. b)
end
local function fb(c) return branin(c.x1, c.x2) end

describe("searcher: tpe", function()
  it("beats random on Branin over 100 evaluations", function()
    local rt, rr = 0, 0
    for seed = 1, 3 do
      rt = rt + optimise(tpe {}, BRANIN, 100, fb, seed) - 0.397887
      rr = rr + optimise(random {}, BRANIN, 100, fb, seed) - 0.397887
    end
    assert.is_true(rt / 3 < 0.1, "tpe mean regret " .. rt / 3)
    assert.is_true(rt * 5 < rr, ("tpe %g vs random %g"):format(rt / 3, rr / 3))
  end)

  it("gives the random searcher's configs for the first n_startup_trials", function()
    local _, a = optimise(tpe { n_startup_trials = 7 }, BRANIN, 12, fb, 4)
    local _, b = optimise(random {}, BRANIN, 12, fb, 4)
    for i = 1, 7 do assert.are.same(b[i], a[i]) end
    assert.are_not.same(b[8], a[8])
  end)

  it("is deterministic for a seed", function()
    local _, a = optimise(tpe {}, BRANIN, 30, fb, 9)
    local _, b = optimise(tpe {}, BRANIN, 30, fb, 9)
    assert.are.same(a, b)
  end)

  it("handles log, int, quantized, categorical and conditional parameters", function()
    local warned = {}
    local space = {
      lr = dsl.loguniform(1e-5, 1e-1), units = dsl.randint(1, 9), q = dsl.quniform(0, 1, 0.25),
      li = dsl.lograndint(1, 1000), qi = dsl.qrandint(0, 20, 5), n = dsl.randn(0, 1),
      opt = dsl.choice { "sgd", { name = "adam", beta = dsl.uniform(0.8, 0.99) },
        dsl.uniform(5, 6) },
      derived = dsl.sample_from(function(c) return c.units * 2 end),
    }
    local s = tpe { n_startup_trials = 5 }
    local e = ctx(space, 60, 2, { warn = function(m) warned[#warned + 1] = m end })
    s:setup(e)
    assert.are.equal(1, #warned)
    assert.truthy(warned[1]:find("config.derived", 1, true))
    local seen = { sgd = 0, adam = 0, num = 0 }
    for i = 1, 60 do
      local id = "t" .. i
      local c = s:suggest(id)
      assert.is_true(c.lr >= 1e-5 and c.lr <= 1e-1)
      assert.is_true(c.units >= 1 and c.units <= 8 and c.units % 1 == 0)
      assert.is_true(c.q * 4 % 1 == 0 and c.q >= 0 and c.q <= 1)
      assert.is_true(c.li >= 1 and c.li <= 999 and c.li % 1 == 0)
      assert.is_true(c.qi % 5 == 0 and c.qi >= 0 and c.qi <= 20)
      assert.are.equal(c.units * 2, c.derived)
      local loss = math.abs(math.log10(c.lr) + 3) + math.abs(c.units - 6)
      if c.opt == "sgd" then
        seen.sgd = seen.sgd + 1
        loss = loss + 1
      elseif type(c.opt) == "table" then
        seen.adam = seen.adam + 1
        assert.are.equal("adam", c.opt.name)
        assert.is_true(c.opt.beta >= 0.8 and c.opt.beta <= 0.99)
        loss = loss + math.abs(c.opt.beta - 0.9) * 10
      else
        seen.num = seen.num + 1
        assert.is_true(c.opt >= 5 and c.opt <= 6)
        loss = loss + 2
      end
      s:on_trial_complete(id, { loss = loss })
    end
    assert.is_true(seen.adam > seen.sgd and seen.adam > seen.num)
    assert.are.equal(1, #warned) -- once, not per suggestion
  end)

  -- (univariate: the default joint model's Scott kernels for g are as wide as the data's
  -- spread, so there a lie moves the next suggestion less; docs/schedulers.md)
  it("with constant liar, parallel pending suggestions move apart", function()
    local function spread(liar)
      local s = tpe { constant_liar = liar, n_startup_trials = 10, multivariate = false }
      s:setup(ctx(BRANIN, 40, 5))
      for i = 1, 20 do
        local id = "d" .. i
        local c = s:suggest(id)
        s:on_trial_complete(id, { loss = fb(c) })
      end
      local pend = {}
      for i = 1, 8 do pend[i] = s:suggest("p" .. i) end
      local d = 0
      for i = 1, 8 do
        for j = i + 1, 8 do
          d = d + math.sqrt((pend[i].x1 - pend[j].x1) ^ 2 + (pend[i].x2 - pend[j].x2) ^ 2)
        end
      end
      return d / 28, pend
    end
    local with, pend = spread(true)
    local without = spread(false)
    assert.is_true(with > without, ("with liar %g, without %g"):format(with, without))
    assert.are_not.same(pend[1], pend[2])
  end)

  it("Optuna's univariate and multivariate kernels optimise too", function()
    for _, o in ipairs { { multivariate = false }, { multivariate_bandwidth = "optuna" } } do
      local best = optimise(tpe(o), BRANIN, 100, fb, 1)
      assert.is_true(best - 0.397887 < 1, "regret " .. best - 0.397887)
    end
  end)

  it("defaults: a joint model with Scott kernels, min_bandwidth 0.06, prior_weight 2", function()
    local function run(o) local _, cs = optimise(tpe(o), BRANIN, 25, fb, 3); return cs end
    local d = run {}
    assert.are.same(run { multivariate = true, multivariate_bandwidth = "scott",
      min_bandwidth = 0.06, prior_weight = 2 }, d)
    for _, o in ipairs { { multivariate = false }, { multivariate_bandwidth = "optuna" },
      { min_bandwidth = 0.2 }, { prior_weight = 1 } } do
      local c = run(o)
      assert.are.same(d[10], c[10]) -- the same random start
      assert.are_not.same(d[25], c[25])
    end
    -- multivariate = false is Optuna 3.1's TPESampler: prior_weight 1, bandwidth_weights
    assert.are.same(run { multivariate = false, prior_weight = 1, bandwidth_weights = true },
      run { multivariate = false })
  end)

  it("the default converges closer on Branin than Optuna 3.1's univariate kernels", function()
    local rd, ru = 0, 0
    for seed = 1, 4 do
      rd = rd + optimise(tpe {}, BRANIN, 120, fb, seed) - 0.397887
      ru = ru + optimise(tpe { multivariate = false }, BRANIN, 120, fb, seed) - 0.397887
    end
    assert.is_true(rd < ru, ("default %g vs univariate %g"):format(rd / 4, ru / 4))
  end)

  it("g(x) from the rows kept in trial order is the one from the trials' columns", function()
    local space = { x1 = dsl.uniform(-5, 10), x2 = dsl.loguniform(1, 15),
      act = dsl.choice { "a", "b", "c" },
      opt = dsl.choice { "sgd", { name = "adam", beta = dsl.uniform(0.8, 0.99) } } }
    local function run(rows)
      local s = tpe { n_startup_trials = 5 }
      s:setup(ctx(space, 120, 3))
      if not rows then s.rows = nil end
      local out, running = {}, {}
      for i = 1, 120 do
        local id = string.format("%05d", i - 1)
        local c = s:suggest(id)
        out[i] = string.format("%.17g %.17g %s %s", c.x1, c.x2, c.act, tostring(c.opt.beta))
        running[#running + 1] = { id, c }
        if #running >= 6 then -- out of order, some failed, some without the metric
          local e = table.remove(running, (i * 7) % #running + 1)
          local res = i % 11 == 0 and {} or { loss = branin(e[2].x1, e[2].x2) }
          s:on_trial_complete(e[1], res, i % 13 == 0 and "failed" or nil)
        end
      end
      return out
    end
    assert.are.same(run(false), run(true))
  end)

  it("starts from points_to_evaluate, nested or by path", function()
    local space = { a = dsl.uniform(0, 1), o = { b = dsl.randint(0, 10) }, k = 3 }
    local pts = { { a = 0.5, o = { b = 7 } }, { ["o.b"] = 2 } }
    for _, ctor in ipairs { tpe, random } do
      local s = ctor { points_to_evaluate = pts }
      s:setup(ctx(space, 4, 1))
      local c1, c2 = s:suggest("a"), s:suggest("b")
      assert.are.same({ a = 0.5, o = { b = 7 }, k = 3 }, c1)
      assert.are.equal(2, c2.o.b)
      assert.is_number(c2.a)
      assert.is_table(s:suggest("c"))
    end
    local s = tpe { points_to_evaluate = { { zz = 1 } } }
    local ok, err = pcall(s.setup, s, ctx(space, 2, 1))
    assert.is_false(ok)
    assert.truthy(tostring(err):find("config.zz", 1, true))
  end)

  it("validates options at the caller's line", function()
    local cases = {
      { { n_startup_trials = -1 }, "n_startup_trials" }, { { gamma = 2 }, "gamma" },
      { { n_ei_candidates = 0 }, "n_ei_candidates" }, { { prior_weight = 0 }, "prior_weight" },
      { { multivariate = "yes" }, "multivariate" }, { { bogus = 1 }, "unknown option 'bogus'" },
      { { mode = "maximize" }, "mode" },
      { { multivariate_bandwidth = "silverman" }, "multivariate_bandwidth" },
      { { min_bandwidth = 0 }, "min_bandwidth" }, { { min_bandwidth = 2 }, "min_bandwidth" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(function() local s = tpe(c[1]); return s end)
      assert.is_false(ok)
      assert.truthy(err:find("tpe_spec.lua:%d+: tpe: ") and err:find(c[2], 1, true), err)
    end
    local ok, err = pcall(function() local s = bohb { top_n_percent = 0 }; return s end)
    assert.is_false(ok)
    assert.truthy(err:find("tpe_spec.lua:%d+: bohb: top_n_percent"), err)
    ok, err = pcall(function() local s = limiter { searcher = tpe {} }; return s end)
    assert.is_false(ok)
    assert.truthy(err:find("tpe_spec.lua:%d+: limiter: max_concurrent"), err)
  end)

  it("needs a metric and a mode", function()
    local s = tpe {}
    local e = ctx(BRANIN, 1, 1)
    e.metric = nil
    assert.has_error(function() s:setup(e) end)
  end)
end)

describe("searcher: bohb", function()
  it("uses HyperBand's brackets and its model on a multi-fidelity Branin", function()
    local max_t = 9
    local sched = hyperband { max_t = max_t, reduction_factor = 3, metric = "loss", mode = "min" }
    local s = bohb { max_t = max_t, reduction_factor = 3 }
    local e = ctx(BRANIN, 150, 3)
    sched:setup(e)
    s:setup(e)
    -- a sequential driver: the scheduler picks, the searcher fills, trials run until paused
    local trials, best, brackets_seen = e.trials, math.huge, {}
    for _ = 1, 10000 do
      local t = sched:choose_trial_to_run()
      if not t then
        local id = string.format("%05d", #trials)
        local c = s:suggest(id)
        if c == nil then
          sched:on_searcher_exhausted()
          t = sched:choose_trial_to_run()
          if not t then break end
        else
          t = { id = id, index = #trials + 1, config = c, status = "PENDING", iteration = 0 }
          trials[t.index] = t
          sched:on_trial_add(t)
          t = sched:choose_trial_to_run()
        end
      end
      t.status = "RUNNING"
      while true do
        t.iteration = t.iteration + 1
        local v = branin(t.config.x1, t.config.x2, t.iteration / max_t)
        local r = { loss = v, training_iteration = t.iteration }
        if t.iteration == max_t then best = math.min(best, v) end
        local d = sched:on_result(t, r)
        s:on_result(t.id, r)
        brackets_seen[sched:where(t).bracket] = true
        if d == "pause" then t.status = "PAUSED"; break end
        if d == "stop" then
          t.status = "TERMINATED"
          sched:on_trial_complete(t, r)
          s:on_trial_complete(t.id, r)
          break
        end
      end
    end
    local nb = 0
    for _ in pairs(brackets_seen) do nb = nb + 1 end
    assert.is_true(nb >= 3)
    assert.is_true(s.stats.model > 10, "model suggestions " .. s.stats.model)
    assert.is_true(s.stats.random > 5)
    assert.is_true(best - 0.397887 < 1, "regret " .. best - 0.397887)
  end)
end)

describe("searcher: bohb's observations", function()
  it("stay ranked by (loss, order); a second result at a budget replaces the first", function()
    local s = bohb { max_t = 9, reduction_factor = 3 }
    s:setup(ctx(BRANIN, 40, 1))
    local losses = {}
    for i = 1, 40 do
      local id = string.format("%05d", i - 1)
      s:suggest(id)
      losses[id] = (i * 37) % 11 -- ties, in no particular order
      s:on_result(id, { training_iteration = 3, loss = losses[id] })
    end
    for i = 1, 40, 3 do -- again at the same budget, some with another loss
      local id = string.format("%05d", i - 1)
      if i % 2 == 0 then losses[id] = losses[id] + 0.5 end
      s:on_result(id, { training_iteration = 3, loss = losses[id] })
    end
    local ranked = s.ranked[3]
    assert.are.equal(40, #ranked) -- one each, the count _model_budget reads
    for k = 1, 40 do
      local e = ranked[k]
      assert.are.equal(losses[e.id], e.loss)
      if k > 1 then
        local p = ranked[k - 1]
        assert.is_true(p.loss < e.loss or (p.loss == e.loss and p.order < e.order))
      end
    end
  end)
end)

describe("searcher wrappers", function()
  it("limiter waits at max_concurrent and resumes as trials end", function()
    local s = limiter { searcher = tpe { n_startup_trials = 2 }, max_concurrent = 2 }
    s:setup(ctx(BRANIN, 10, 1))
    assert.is_table(s:suggest("a"))
    assert.is_table(s:suggest("b"))
    assert.are.equal("wait", s:suggest("c"))
    s:on_trial_complete("a", { loss = 3 })
    assert.is_table(s:suggest("c"))
    assert.are.equal("wait", s:suggest("d"))
  end)

  it("tpe { max_concurrent = n } is a limited tpe", function()
    local s = tpe { max_concurrent = 1 }
    s:setup(ctx(BRANIN, 10, 1))
    assert.is_table(s:suggest("a"))
    assert.are.equal("wait", s:suggest("b"))
  end)

  it("limiter catches up after a replay that ignored its waits", function()
    -- straight run: a, b complete, then c
    local s1 = limiter { searcher = random {}, max_concurrent = 1 }
    local e1 = ctx(BRANIN, 5, 1)
    s1:setup(e1)
    local c1 = { s1:suggest("00000") }
    s1:on_trial_complete("00000", { loss = 1 })
    c1[2] = s1:suggest("00001")
    s1:on_trial_complete("00001", { loss = 1 })
    c1[3] = s1:suggest("00002")
    -- replay: suggest for both journaled trials first (the answer is ignored), then results
    local s2 = limiter { searcher = random {}, max_concurrent = 1 }
    local e2 = ctx(BRANIN, 5, 1)
    s2:setup(e2)
    for i, id in ipairs { "00000", "00001" } do
      s2:suggest(id)
      e2.trials[i] = { id = id, config = c1[i] }
    end
    s2:on_trial_complete("00000", { loss = 1 })
    s2:on_trial_complete("00001", { loss = 1 })
    assert.are.same(c1[3], s2:suggest("00002"))
  end)

  it("repeater runs each config n times and reports the mean", function()
    local heard = {}
    local inner = {
      name = "probe", n = 0,
      setup = function(self, e) self.ns = e.num_samples end,
      suggest = function(self) self.n = self.n + 1; return { x = self.n } end,
      on_trial_complete = function(_, id, r) heard[#heard + 1] = { id, r and r.loss } end,
    }
    local s = repeater { searcher = inner, ["repeat"] = 3 }
    s:setup(ctx({ x = dsl.uniform(0, 1) }, 6, 1))
    assert.are.equal(2, inner.ns)
    local cs = {}
    for i = 1, 6 do cs[i] = s:suggest("t" .. i) end
    assert.are.same({ x = 1, __trial_index__ = 0 }, cs[1])
    assert.are.same({ x = 1, __trial_index__ = 2 }, cs[3])
    assert.are.same({ x = 2, __trial_index__ = 0 }, cs[4])
    s:on_trial_complete("t1", { loss = 1 })
    s:on_trial_complete("t2", { loss = 2 })
    assert.are.equal(0, #heard)
    s:on_trial_complete("t3", nil, true)
    assert.are.same({ { "t1", 1.5 } }, heard)
  end)
end)

describe("parzen (the univariate fast path)", function()
  local parzen = require "tunelua.parzen"
  local ffi = require "ffi"

  -- logsumexp over every kernel, in component order: the reference for the windowed sum.
  local function brute(mix, x)
    local dim, terms, m = mix.dims[1], {}, -math.huge
    for k = 1, mix.K do
      local z = (x - dim.mu[k]) / dim.sigma[k]
      terms[k] = mix.logw[k] + dim.lc[k] - 0.5 * z * z
      if terms[k] > m then m = terms[k] end
    end
    local s = 0
    for k = 1, mix.K do s = s + math.exp(terms[k] - m) end
    return m + math.log(s)
  end

  it("the windowed logpdf over sorted kernels matches the full sum, ties included", function()
    local r = rng.new(7)
    for _, n in ipairs({ 40, 300, 1000 }) do
      local col = {}
      for i = 1, n do
        -- clustered values, some repeated, and both ends of the range
        col[i] = (i % 17 == 0) and 0.25 or (i % 53 == 0) and 1 or r:random() ^ 3
      end
      col[1] = 0
      local o = { rule = "neighbors", consider_prior = true, prior_weight = 1 }
      local mix = parzen.fit({ { kind = "num", low = 0, high = 1 } }, { col },
        parzen.ramp_weights(n), o)
      assert.is_truthy(mix.dims[1].smu)
      for _ = 1, 200 do
        local x = r:random()
        local a, b = parzen.logpdf(mix, { x }), brute(mix, x)
        assert.is_true(math.abs(a - b) <= 1e-9 * math.max(1, math.abs(b)), a .. " vs " .. b)
      end
    end
  end)

  it("phi is the normal cdf to 1e-11, monotone and continuous across its table's steps",
    function()
    local known = { { 0, 0.5 }, { 0.5, 0.6914624612740131 }, { 1, 0.8413447460685429 },
      { -1.5, 0.06680720126885807 }, { 2, 0.9772498680518208 }, { 3, 0.9986501019683699 },
      { -4, 3.1671241833119965e-05 }, { -6, 9.865876450377012e-10 }, { 8.4, 1 }, { 9, 1 },
      { -9, 0 }, { 1.96, 0.9750021048517795 }, { -0.253, 0.40013410659859483 } }
    for _, p in ipairs(known) do
      assert.is_true(math.abs(parzen.phi(p[1]) - p[2]) < 1e-11, p[1] .. ": " .. parzen.phi(p[1]))
    end
    local prev = parzen.phi(-9)
    for i = -9 * 1024, 9 * 1024 do
      local x = i / 1024 + 1e-7
      local v = parzen.phi(x)
      assert.is_true(v >= prev, x)
      -- across a step: the two sides meet
      assert.is_true(math.abs(parzen.phi(x - 1e-7) - parzen.phi(x - 2e-7)) < 1e-7, x)
      prev = v
    end
  end)

  it("expneg is exp to a relative 1e-12 over (-40, 0]", function()
    local worst = 0
    for i = 0, 40 * 4096 - 1 do
      local t = -i / 4096 - (i % 7) * 1e-5
      if t > -40 then
        worst = math.max(worst, math.abs(parzen.expneg(t) / math.exp(t) - 1))
      end
    end
    assert.is_true(worst < 1e-12, "worst relative error " .. worst)
    assert.are.equal(1, parzen.expneg(0))
  end)

  it("the joint logpdf (flat arrays, two passes) matches the full sum over kernels", function()
    local r = rng.new(5)
    local D, n = 4, 300
    local dims, cols = {}, {}
    for d = 1, D do
      dims[d] = { kind = "num", low = 0, high = d }
      cols[d] = {}
      -- two far clusters, so that many kernels fall below the cut-off
      for i = 1, n do cols[d][i] = (i % 2 == 0 and 0.05 or 0.9) * d + 0.01 * d * r:random() end
    end
    for _, rule in ipairs { "scott", "multivariate" } do
      local mix = parzen.fit(dims, cols, parzen.ramp_weights(n),
        { rule = rule, consider_prior = true, prior_weight = 2, min_bandwidth = 0.01,
          scott_d = D })
      for _ = 1, 100 do
        local v, terms, m = {}, {}, -math.huge
        for d = 1, D do v[d] = d * r:random() end
        for k = 1, mix.K do
          local t = mix.logw[k]
          for d = 1, D do
            local dm = mix.dims[d]
            local z = (v[d] - dm.mu[k]) / dm.sigma[k]
            t = t + dm.lc[k] - 0.5 * z * z
          end
          terms[k] = t
          if t > m then m = t end
        end
        same_log(parzen.logpdf(mix, v), m, terms)
      end
    end
  end)

  it("logpdf of a joint mixture with categories: every kernel's terms, summed", function()
    local r = rng.new(8)
    local dims = { { kind = "num", low = 0, high = 1 }, { kind = "cat", n = 3 },
      { kind = "num", low = -2, high = 2 }, { kind = "cat", n = 2 } }
    for _, n in ipairs { 0, 1, 40, 400 } do
      local cols = { {}, {}, {}, {} }
      for i = 1, n do
        cols[1][i], cols[2][i] = r:random(), r:int(1, 3)
        cols[3][i], cols[4][i] = r:uniform(-2, 2), i % 5 == 0 and 2 or 1
      end
      local mix = parzen.fit(dims, cols, parzen.ramp_weights(n),
        { rule = "scott", consider_prior = true, prior_weight = 2, min_bandwidth = 0.05,
          scott_d = 4 })
      for _ = 1, 50 do
        local v = { r:random(), r:int(1, 3), r:uniform(-2, 2), r:int(1, 2) }
        local terms, m = {}, -math.huge
        for k = 1, mix.K do
          local t = mix.logw[k]
          for d = 1, 4 do
            local dm = mix.dims[d]
            if dm.kind == "cat" then -- the kernel's probabilities, from scratch
              local w = {}
              for c = 1, dm.n do w[c] = 2 / mix.K + ((k <= n and cols[d][k] == c) and 1 or 0) end
              local total = 0
              for c = 1, dm.n do total = total + w[c] end
              t = t + math.log(w[v[d]] / total)
            else
              local z = (v[d] - dm.mu[k]) / dm.sigma[k]
              t = t + dm.lc[k] - 0.5 * z * z
            end
          end
          terms[k] = t
          if t > m then m = t end
        end
        same_log(parzen.logpdf(mix, v), m, terms, n .. ": ")
      end
    end
  end)

  it("a category outside the dimension's misses every kernel, no read out of bounds", function()
    local r = rng.new(9)
    local dims = { { kind = "num", low = 0, high = 1 }, { kind = "cat", n = 3 } }
    local cols = { {}, {} }
    for i = 1, 50 do cols[1][i], cols[2][i] = r:random(), r:int(1, 3) end
    local mix = parzen.fit(dims, cols, parzen.ramp_weights(50),
      { rule = "scott", consider_prior = true, prior_weight = 2, scott_d = 2 })
    for _, c in ipairs { 0, 4, 1.5 } do
      -- every data kernel misses c, the prior has its flat mass
      local terms, m = {}, -math.huge
      for k = 1, mix.K do
        local z = (0.5 - mix.dims[1].mu[k]) / mix.dims[1].sigma[k]
        local t = mix.logw[k] + mix.dims[1].lc[k] - 0.5 * z * z
          + (k <= 50 and mix.dims[2].lmiss or mix.dims[2].lprior)
        terms[k] = t
        if t > m then m = t end
      end
      same_log(parzen.logpdf(mix, { 0.5, c }), m, terms, c .. ": ")
    end
  end)

  it("fit_rows (observations in rows) gives fit's logpdf, bit for bit", function()
    local r = rng.new(11)
    local dims = { { kind = "num", low = 0, high = 1 }, { kind = "cat", n = 3 },
      { kind = "num", low = -2, high = 2, prior_mu = 0.5, prior_sigma = 1 },
      { kind = "cat", n = 2 } }
    for _, n in ipairs { 0, 1, 40, 300 } do
      local cols, X = { {}, {}, {}, {} }, ffi.new("double[?]", 4 * n + 1)
      for i = 1, n do
        cols[1][i], cols[2][i] = r:random() ^ 2, r:int(1, 3)
        cols[3][i], cols[4][i] = r:uniform(-2, 2), i % 5 == 0 and 2 or 1
        for d = 1, 4 do X[(i - 1) * 4 + d - 1] = cols[d][i] end
      end
      for _, o in ipairs {
        { rule = "scott", consider_prior = true, prior_weight = 2, min_bandwidth = 0.05,
          scott_d = 4 },
        { rule = "scott", consider_prior = false, scott_d = 4 },
        { rule = "multivariate", consider_prior = true, prior_weight = 1 },
      } do
        if n > 0 or o.consider_prior then
          local w = parzen.ramp_weights(n)
          local a, b = parzen.fit(dims, cols, w, o), parzen.fit_rows(dims, X, n, w, o)
          assert.are.equal(a.K, b.K)
          for _ = 1, 30 do
            local v = { r:random(), r:int(0, 4), r:uniform(-2, 2), r:int(1, 2) }
            assert.are.equal(parzen.logpdf(a, v), parzen.logpdf(b, v))
          end
        end
      end
    end
    -- a category without mass: nil (fit's general loop decides)
    local X = ffi.new("double[?]", 2)
    X[0], X[1] = 0.5, 1
    assert.is_nil(parzen.fit_rows({ dims[1], dims[2] }, X, 1, { 1 },
      { rule = "scott", consider_prior = true, prior_weight = 0 }))
  end)

  it("repeated values share the sigma of the first sorted position holding them", function()
    local col = { 0.5, 0.2, 0.2, 0.2, 0.9, 0.7, 0.2 }
    local mix = parzen.fit({ { kind = "num", low = 0, high = 1 } }, { col },
      parzen.flat_weights(#col), { rule = "neighbors", consider_prior = true, magic_clip = false })
    local sg = mix.dims[1].sigma
    -- sorted: 0 .. 0.2 x4, 0.5 (x2: the data and the prior), 0.7, 0.9 .. 1; the first 0.2 is
    -- the lowest value, so it takes its inner distance (no endpoints)
    assert.are.equal(sg[2], sg[3]); assert.are.equal(sg[3], sg[4]); assert.are.equal(sg[4], sg[7])
    assert.are.equal(1e-12, sg[2]) -- a zero distance, at the floor without the magic clip
  end)
  it("scott rule: 1.06 sd n^(-1/(d+4)) per dimension, at least min_bandwidth of the range",
    function()
    local a, b = { 1, 2, 3, 4, 5, 6, 7, 8 }, { 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.6 }
    local dims = { { kind = "num", low = 0, high = 10 }, { kind = "num", low = 0, high = 1 } }
    local function sd(c)
      local m, v = 0, 0
      for _, x in ipairs(c) do m = m + x / #c end
      for _, x in ipairs(c) do v = v + (x - m) ^ 2 end
      return math.sqrt(v / (#c - 1))
    end
    for _, d in ipairs { 1, 2, 6 } do
      local mix = parzen.fit(dims, { a, b }, parzen.flat_weights(8),
        { rule = "scott", consider_prior = true, prior_weight = 2, min_bandwidth = 0.06,
          scott_d = d })
      local want = 1.06 * sd(a) * 8 ^ (-1 / (d + 4))
      assert.is_true(math.abs(mix.dims[1].sigma[3] - want) < 1e-12, mix.dims[1].sigma[3])
      -- the second column is narrow: clipped at 0.06 of its range
      assert.are.equal(0.06, mix.dims[2].sigma[5])
      -- the prior: the middle, sigma = range, weight 2 of 10
      assert.are.equal(5, mix.dims[1].mu[9]); assert.are.equal(10, mix.dims[1].sigma[9])
      assert.is_true(math.abs(math.exp(mix.logw[9]) - 0.2) < 1e-12)
    end
    -- no scott_d: BOHB's n^(-1/5)
    local mix = parzen.fit(dims, { a, b }, parzen.flat_weights(8), { rule = "scott" })
    assert.is_true(math.abs(mix.dims[1].sigma[1] - 1.06 * sd(a) * 8 ^ -0.2) < 1e-12)
  end)

  it("bandwidth_weights: kernel mass grows with sigma (Optuna < 3.5); off: a density", function()
    local col = { 0.1, 0.12, 0.5, 0.53, 0.9 }
    local dims = { { kind = "num", low = 0, high = 1 } }
    local function fit(bw)
      return parzen.fit(dims, { col }, parzen.flat_weights(#col),
        { rule = "neighbors", consider_prior = true, prior_weight = 1, bandwidth_weights = bw })
    end
    local on, off = fit(true), fit(false)
    -- off: integrates to 1 over [0, 1] (midpoint rule)
    local total, m = 0, 20000
    for i = 1, m do total = total + math.exp(parzen.logpdf(off, { (i - 0.5) / m })) / m end
    assert.is_true(math.abs(total - 1) < 1e-4, "integral " .. total)
    -- on: the same kernels, each term multiplied by its sigma
    for _, x in ipairs({ 0.05, 0.3, 0.52, 0.99 }) do
      local d, s = on.dims[1], 0
      for k = 1, on.K do
        local z = (x - d.mu[k]) / d.sigma[k]
        local mass = parzen.phi((1 - d.mu[k]) / d.sigma[k]) - parzen.phi(-d.mu[k] / d.sigma[k])
        s = s + math.exp(on.logw[k]) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) / mass
      end
      local a = parzen.logpdf(on, { x })
      assert.is_true(math.abs(a - math.log(s)) < 1e-9, a .. " vs " .. math.log(s))
      assert.are_not.equal(a, parzen.logpdf(off, { x }))
    end
  end)
  it("fit_sorted (presorted observations) gives fit's density, with ties and options", function()
    local r = rng.new(11)
    for _, n in ipairs({ 1, 2, 5, 60, 500 }) do
      for _, o in ipairs({
        { rule = "neighbors", consider_prior = true, prior_weight = 1, bandwidth_weights = true },
        { rule = "neighbors", consider_prior = true, prior_weight = 2 },
        { rule = "neighbors", consider_prior = false, endpoints = true, magic_clip = false },
      }) do
        local dim = { kind = "num", low = -1, high = 2 }
        local col, w = {}, parzen.ramp_weights(n)
        for i = 1, n do col[i] = (i % 7 == 0) and 0.5 or -1 + 3 * r:random() ^ 2 end
        local idx = {}
        for i = 1, n do idx[i] = i end
        table.sort(idx, function(a, b) return col[a] < col[b] end)
        local sv, slw, wsum = ffi.new("double[?]", n), ffi.new("double[?]", n), 0
        for j, i in ipairs(idx) do
          sv[j - 1], slw[j - 1], wsum = col[i], math.log(w[i]), wsum + w[i]
        end
        local a = parzen.fit({ dim }, { col }, w, o)
        local b = parzen.fit_sorted(dim, sv, slw, n, wsum, o)
        for _ = 1, 50 do
          local x = -1 + 3 * r:random()
          local la, lb = parzen.logpdf(a, { x }), parzen.logpdf(b, { x })
          assert.is_true(math.abs(la - lb) <= 1e-12 * math.max(1, math.abs(la)), la .. " vs " .. lb)
        end
      end
    end
  end)
end)

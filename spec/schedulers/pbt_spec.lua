-- PBT: Ray Tune's explore rules, quantiles, exploit decisions, synch mode, option errors, and
-- the toy problem of the PBT paper (Jaderberg et al. 2017, Figure 2) run by the real binary.
local dsl = require "tunelua.dsl"
local rng = require "tunelua.rng"
local pbt = require "schedulers.pbt"
local H = require "spec.e2e.helpers"
local T = require "spec.schedulers.pbt_toy"

-- A fake experiment context and n trial views with the given configs (setup + on_trial_add).
local function harness(sched, cfgs, o)
  o = o or {}
  local exp = { metric = o.metric or "score", mode = o.mode or "max", trials = {}, space = {},
    num_samples = #cfgs, rng = rng.new(o.seed or 1):derive("scheduler"),
    executor = o.executor or "simulate", checkpoint = o.checkpoint or {},
    now = function() return 0 end }
  sched:setup(exp)
  for i, c in ipairs(cfgs) do
    local v = { id = string.format("%05d", i - 1), index = i, status = "RUNNING", iteration = 0,
      config = c }
    exp.trials[i] = v
    sched:on_trial_add(v)
  end
  return exp
end

-- Feeds one result (training_iteration = time_total_s = it) and returns the decision.
local function report(sched, t, it, score)
  t.iteration = it
  local r = { training_iteration = it, time_total_s = it, score = score }
  t.last_result = r
  return sched:on_result(t, r)
end

local function count(list, v)
  local n = 0
  for _, x in ipairs(list) do if x == v then n = n + 1 end end
  return n
end

describe("pbt explore (Ray's _explore)", function()
  local explore = pbt.explore

  it("multiplies a continuous value by one of the factors, each equally often", function()
    local r = rng.new(7)
    local seen = {}
    for _ = 1, 3000 do
      local c, ops = explore({ lr = 0.5 }, { lr = dsl.uniform(0, 1) }, 0, { 2, 3, 5 }, nil, r)
      seen[#seen + 1] = c.lr
      assert.are.equal("* " .. tostring(c.lr / 0.5), ops.lr)
    end
    for _, f in ipairs { 2, 3, 5 } do
      local n = count(seen, 0.5 * f)
      assert.is_true(n > 1000 - 120 and n < 1000 + 120, f .. ": " .. n) -- 4.5 sd
    end
    assert.are.equal(3000, count(seen, 1) + count(seen, 1.5) + count(seen, 2.5))
  end)

  it("uses 1.2 and 0.8 by default", function()
    local s = pbt { hyperparam_mutations = { lr = dsl.uniform(0, 1) }, resample_probability = 0 }
    harness(s, {})
    local seen = {}
    for _ = 1, 200 do
      local c = s:new_config(nil, { config = { lr = 0.5 } })
      seen[c.lr] = true
    end
    assert.are.same({ [0.5 * 1.2] = true, [0.5 * 0.8] = true }, seen)
  end)

  it("resamples with resample_probability (binomial bounds over 4000 draws)", function()
    for _, p in ipairs { 0, 0.25, 0.7, 1 } do
      local r = rng.new(11)
      local resampled, fn_resampled = 0, 0
      for _ = 1, 4000 do
        local _, ops = explore({ lr = 0.5, n = 4 },
          { lr = dsl.loguniform(1e-4, 1e-1), n = function(g) return g:int(1, 9) end },
          p, { 1.2, 0.8 }, nil, r)
        if ops.lr == "resample" then resampled = resampled + 1 end
        if ops.n == "resample" then fn_resampled = fn_resampled + 1 end
      end
      local sd = math.sqrt(4000 * p * (1 - p))
      assert.is_true(math.abs(resampled - 4000 * p) <= 4.5 * sd, p .. ": " .. resampled)
      assert.is_true(math.abs(fn_resampled - 4000 * p) <= 4.5 * sd, p .. ": " .. fn_resampled)
    end
  end)

  it("draws a resampled value from the domain or the function", function()
    local r = rng.new(3)
    for _ = 1, 200 do
      local c = explore({ lr = 5, k = 100 }, { lr = dsl.loguniform(1e-4, 1e-1),
        k = function(g) return g:uniform(0, 1) end }, 1, { 1.2, 0.8 }, nil, r)
      assert.is_true(c.lr >= 1e-4 and c.lr < 1e-1)
      assert.is_true(c.k >= 0 and c.k < 1)
    end
  end)

  it("moves a list value to a neighbour, 50/50, clamped at the ends", function()
    local r = rng.new(5)
    local vals = { 1, 10, 100, 1000 }
    local got, ops_seen = {}, {}
    for _ = 1, 2000 do
      local c, ops = explore({ b = 10 }, { b = vals }, 0, { 1.2, 0.8 }, nil, r)
      got[c.b] = (got[c.b] or 0) + 1
      ops_seen[ops.b] = true
    end
    assert.are.same({ [1] = true, [100] = true }, { [1] = got[1] > 0, [100] = got[100] > 0 })
    assert.are.equal(2000, got[1] + got[100])
    assert.is_true(math.abs(got[1] - 1000) < 4.5 * math.sqrt(500), tostring(got[1]))
    assert.are.same({ ["shift left"] = true, ["shift right"] = true }, ops_seen)
    -- at the ends: the shift is a no-op half the time
    local ends = {}
    for _ = 1, 400 do
      local c, ops = explore({ b = 1000 }, { b = vals }, 0, { 1.2, 0.8 }, nil, r)
      ends[ops.b] = (ends[ops.b] or 0) + 1
      assert.is_true(c.b == 1000 or c.b == 100)
      if ops.b == "shift right (noop)" then assert.are.equal(1000, c.b) end
    end
    assert.is_true(ends["shift right (noop)"] > 100 and ends["shift left"] > 100)
  end)

  it("resamples a list value that is not in the list; compares tables by value", function()
    local r = rng.new(9)
    for _ = 1, 50 do
      local c, ops = explore({ b = 7 }, { b = { 1, 2, 3 } }, 0, { 1.2, 0.8 }, nil, r)
      assert.are.equal("resample", ops.b)
      assert.is_true(c.b == 1 or c.b == 2 or c.b == 3)
    end
    local lists = { { 1, 0 }, { 0.5, 0.5 }, { 0, 1 } }
    local c, ops = explore({ h = { 0.5, 0.5 } }, { h = lists }, 0, { 1.2, 0.8 }, nil, r)
    assert.is_truthy(ops.h:match("^shift"))
    assert.is_true(c.h[1] + c.h[2] == 1 and c.h ~= lists[1] and c.h ~= lists[3])
  end)

  it("keeps integers integers (Python's int(), toward zero)", function()
    local r = rng.new(2)
    for _ = 1, 100 do
      local c = explore({ n = 7, m = -7, q = 0.5 }, { n = function() return 3 end,
        m = function() return 3 end, q = dsl.uniform(0, 1) }, 0, { 1.2, 0.8 }, nil, r)
      assert.is_true(c.n == 8 or c.n == 5, tostring(c.n))   -- 8.4, 5.6
      assert.is_true(c.m == -8 or c.m == -5, tostring(c.m))
      assert.is_true(c.q == 0.6 or c.q == 0.4)
    end
    local c = explore({ k = 3 }, { k = dsl.randint(1, 10) }, 0, { 1.5 }, nil, r)
    assert.are.equal(4, c.k)
    c = explore({ k = 3 }, { k = dsl.uniform(1, 10) }, 0, { 1.5 }, nil, r)
    assert.are.equal(4.5, c.k)
  end)

  it("recurses into nested tables and list-valued configs; leaves the rest alone", function()
    local r = rng.new(4)
    local config = { optim = { lr = 0.1, momentum = 0.9, name = "sgd" }, h = { 1, 0 },
      depth = 3 }
    local c, ops = explore(config, {
      optim = { lr = dsl.uniform(0, 1), momentum = { 0.5, 0.9, 0.99 } },
      h = { dsl.uniform(0, 1), dsl.uniform(0, 1) },
    }, 0, { 2 }, nil, r)
    assert.are.equal(0.2, c.optim.lr)
    assert.is_true(c.optim.momentum == 0.5 or c.optim.momentum == 0.99)
    assert.are.equal("sgd", c.optim.name)
    assert.are.same({ 2, 0 }, c.h)
    assert.are.equal(3, c.depth)
    assert.are.equal("* 2", ops.optim.lr)
    assert.are.same({ optim = { lr = 0.1, momentum = 0.9, name = "sgd" }, h = { 1, 0 },
      depth = 3 }, config) -- the input is not modified
  end)

  it("applies custom_explore_fn(config, rng) last", function()
    local r = rng.new(4)
    local c = explore({ a = 1 }, { a = { 1, 2 } }, 0, { 1.2 }, function(cfg, g)
      assert.is_truthy(g.random)
      cfg.seen = cfg.a
      return cfg
    end, r)
    assert.are.equal(c.a, c.seen)
    assert.has_error(function()
      explore({ a = 1 }, {}, 0, { 1.2 }, function() end, r)
    end, "custom_explore_fn must return the new config table, got nil")
  end)

  it("refuses to multiply what is not a number", function()
    assert.has_error(function()
      explore({ opt = "adam" }, { opt = dsl.choice { "adam", "sgd" } }, 0, { 1.2 }, nil,
        rng.new(1))
    end, "config.opt = adam cannot be perturbed by a factor (not a number): give a list of "
      .. "values in hyperparam_mutations instead")
  end)

  it("is deterministic for a seed", function()
    local function run()
      local r = rng.new(42)
      local out = {}
      for i = 1, 20 do
        out[i] = explore({ a = 0.5, b = 2 }, { a = dsl.uniform(0, 1), b = { 1, 2, 3 } }, 0.25,
          { 1.2, 0.8 }, nil, r)
      end
      return out
    end
    assert.are.same(run(), run())
  end)

  it("fills mutated keys the config lacks (Ray's _fill_config)", function()
    local s = pbt { hyperparam_mutations = { lr = dsl.uniform(0, 1), b = { 8, 16 },
      o = { m = function() return 0.9 end } } }
    local exp = harness(s, { { lr = 0.3 }, {} })
    assert.are.equal(0.3, exp.trials[1].config.lr)
    local c = exp.trials[2].config
    assert.is_true(c.lr >= 0 and c.lr < 1)
    assert.is_true(c.b == 8 or c.b == 16)
    assert.are.equal(0.9, c.o.m)
  end)
end)

describe("pbt quantiles and exploit", function()
  local function sched(o)
    o = o or {}
    o.hyperparam_mutations = o.hyperparam_mutations or { lr = { 1, 2, 3, 4, 5 } }
    o.time_attr = o.time_attr or "training_iteration"
    o.perturbation_interval = o.perturbation_interval or 4
    return pbt(o)
  end

  -- n trials, all at the perturbation point with scores[i]; returns lower/upper trial ids.
  local function split(scores, o, mode)
    local s = sched(o)
    local cfgs = {}
    for i = 1, #scores do cfgs[i] = { lr = 3 } end
    local exp = harness(s, cfgs, { mode = mode })
    for i, t in ipairs(exp.trials) do
      s.state[i].last_score = (mode == "min" and -1 or 1) * scores[i]
      s.state[i].last_train_time = 4
      t.status = "RUNNING"
    end
    local lower, upper = s:quantiles()
    local ids = function(l)
      local out = {}
      for i, t in ipairs(l) do out[i] = t.index end
      table.sort(out)
      return out
    end
    return ids(lower), ids(upper), exp, s
  end

  it("takes ceil(n * quantile_fraction), at most n / 2, from each end", function()
    local lo, up = split { 5, 1, 7, 3, 8, 2, 6, 4 }
    assert.are.same({ 2, 6 }, lo)
    assert.are.same({ 3, 5 }, up)
    lo, up = split({ 5, 1, 7, 3, 8 }, { quantile_fraction = 0.25 }) -- ceil(1.25) = 2
    assert.are.same({ 2, 4 }, lo)
    assert.are.same({ 3, 5 }, up)
    lo, up = split({ 5, 1, 7 }, { quantile_fraction = 0.5 })         -- ceil(1.5) = 2 > 1.5
    assert.are.same({ 2 }, lo)
    assert.are.same({ 3 }, up)
    lo, up = split({ 5, 1 }, { quantile_fraction = 0.1 })
    assert.are.same({ 2 }, lo)
    assert.are.same({ 1 }, up)
    lo, up = split({ 5, 1 }, { quantile_fraction = 0 })
    assert.are.same({}, lo)
    assert.are.same({}, up)
    lo, up = split { 5 }
    assert.are.same({}, lo)
    assert.are.same({}, up)
  end)

  it("ranks by mode, breaks ties by trial order, skips finished trials", function()
    local lo, up = split({ 5, 1, 7, 3 }, { quantile_fraction = 0.25 }, "min")
    assert.are.same({ 3 }, lo)
    assert.are.same({ 2 }, up)
    lo, up = split({ 2, 2, 2, 2 }, { quantile_fraction = 0.5 })
    assert.are.same({ 1, 2 }, lo)
    assert.are.same({ 3, 4 }, up)
    local _, _, exp, s = split({ 1, 2, 3, 4 }, { quantile_fraction = 0.25 })
    exp.trials[1].status = "TERMINATED"
    exp.trials[4].status = "ERROR"
    local lower, upper = s:quantiles()
    assert.are.equal(2, lower[1].index)
    assert.are.equal(3, upper[1].index)
  end)

  it("a bottom trial at a perturbation point clones a top one with an explored config",
    function()
      local s = sched { quantile_fraction = 0.25, resample_probability = 0 }
      local exp = harness(s, { { lr = 1 }, { lr = 2 }, { lr = 3 }, { lr = 4 } })
      local t = exp.trials
      for i = 1, 3 do
        assert.are.equal("continue", report(s, t[i], 3, i))   -- before the interval
      end
      for i = 2, 4 do
        assert.are.equal("continue", report(s, t[i], 4, 10 * i)) -- top or middle
      end
      local d = report(s, t[1], 4, 1)
      assert.are.equal(t[4], d.exploit)
      assert.is_true(d.config.lr == 3 or d.config.lr == 5)   -- a neighbour of 4
      assert.are.equal(4, t[4].config.lr)                    -- the source is untouched
      -- the clone's perturbation time came along: next point at 8, not before
      assert.are.equal("continue", report(s, t[1], 7, 0))
      assert.are.equal("table", type(report(s, t[1], 8, 0)))
    end)

  it("waits for burn_in_period and reads time_attr", function()
    local s = sched { time_attr = "time_total_s", burn_in_period = 10 }
    local exp = harness(s, { { lr = 1 }, { lr = 2 } })
    local t = exp.trials
    assert.are.equal("continue", report(s, t[2], 9, 10))
    assert.are.equal("continue", report(s, t[1], 9, 1))
    assert.are.equal("continue", report(s, t[2], 10, 10))
    assert.are.equal(t[2], report(s, t[1], 10, 1).exploit)
  end)

  it("pauses a trial at its perturbation point when others wait to run", function()
    local s = sched {}
    local exp = harness(s, { { lr = 1 }, { lr = 2 } })
    exp.trials[2].status = "PENDING"
    assert.are.equal("pause", report(s, exp.trials[1], 4, 1))
    exp.trials[1].status = "PAUSED"
    assert.are.equal(exp.trials[2], s:choose_trial_to_run())   -- least training time first
  end)

  it("needs a metric; reports a missing one unless require_attrs = false", function()
    local s = sched {}
    local exp = harness(s, { { lr = 1 } })
    assert.has_error(function()
      s:on_result(exp.trials[1], { training_iteration = 4 })
    end, "pbt: trial 00000 reported no metric 'score' (set require_attrs = false to ignore "
      .. "such results)")
    s = sched { require_attrs = false }
    exp = harness(s, { { lr = 1 } })
    assert.are.equal("continue", s:on_result(exp.trials[1], { training_iteration = 4 }))
  end)

  it("under the local executor clones only a trial with a checkpoint", function()
    local s = sched {}
    local exp = harness(s, { { lr = 1 }, { lr = 2 } },
      { executor = "local", checkpoint = { every = 2 } })
    local t = exp.trials
    report(s, t[2], 4, 10)
    assert.are.equal("continue", report(s, t[1], 4, 1))
    t[2].checkpoint = "/x/trials/00001/checkpoints/4"
    report(s, t[2], 8, 10)
    assert.are.equal(t[2], report(s, t[1], 8, 1).exploit)
  end)

  it("refuses to run under the local executor without checkpoints", function()
    local s = sched {}
    assert.has_error(function() harness(s, {}, { executor = "local" }) end)
    local ok, err = pcall(harness, s, {}, { executor = "local" })
    assert.is_false(ok)
    assert.is_truthy(err:find("pbt needs the trainer to checkpoint: set checkpoint = { every = N }",
      1, true), err)
  end)
end)

describe("pbt synch", function()
  local function setup3()
    local s = pbt { time_attr = "training_iteration", perturbation_interval = 4, synch = true,
      quantile_fraction = 0.25, resample_probability = 0,
      hyperparam_mutations = { lr = { 1, 2, 3 } } }
    local exp = harness(s, { { lr = 1 }, { lr = 2 }, { lr = 3 } })
    return s, exp, exp.trials
  end

  it("pauses at the point until every live trial is there, then ranks them all", function()
    local s, _, t = setup3()
    assert.are.equal("continue", report(s, t[1], 3, 0))
    assert.are.equal("pause", report(s, t[1], 4, 1))
    t[1].status = "PAUSED"
    assert.is_nil(s:choose_trial_to_run())            -- it waits for the others
    assert.are.equal("pause", report(s, t[3], 4, 3))
    t[3].status = "PAUSED"
    assert.are.equal("pause", report(s, t[2], 4, 2))  -- the last one: ranking happens
    t[2].status = "PAUSED"
    assert.are.equal(8, s.next_sync)
    -- everyone may run again; trial 1 (bottom) goes last among equals: it has an exploit
    assert.are.equal(t[2], s:choose_trial_to_run())
    t[2].status = "RUNNING"
    assert.are.equal(t[3], s:choose_trial_to_run())
    t[3].status = "RUNNING"
    assert.are.equal(t[1], s:choose_trial_to_run())
    t[1].status = "RUNNING"
    -- the bottom trial takes over the top one at its next result
    assert.are.equal("continue", report(s, t[3], 5, 3))
    local d = report(s, t[1], 5, 1)
    assert.are.equal(t[3], d.exploit)
    assert.is_true(d.config.lr == 2 or d.config.lr == 3)
    assert.are.equal("continue", report(s, t[1], 6, 1))
    assert.are.equal("pause", report(s, t[1], 8, 1))  -- next barrier
  end)

  it("a trial that ends releases the barrier", function()
    local s, _, t = setup3()
    report(s, t[1], 4, 1)
    t[1].status = "PAUSED"
    report(s, t[3], 4, 3)
    t[3].status = "PAUSED"
    t[2].status = "TERMINATED"
    s:on_trial_complete(t[2], {})
    assert.are.equal(8, s.next_sync)
    assert.are.equal(t[3], s.state[1].pending.exploit)
  end)
end)

describe("pbt options", function()
  local function err_of(opts)
    local ok, err = pcall(pbt, opts)
    assert.is_false(ok)
    return err
  end
  local m = { lr = { 1, 2 } }

  it("names the bad option", function()
    local cases = {
      { { hyperparam_mutations = m, quantile_fraction = 0.7 }, "quantile_fraction" },
      { { hyperparam_mutations = m, perturbation_interval = 0 }, "perturbation_interval" },
      { { hyperparam_mutations = m, burn_in_period = -1 }, "burn_in_period" },
      { { hyperparam_mutations = m, resample_probability = 2 }, "resample_probability" },
      { { hyperparam_mutations = m, perturbation_factors = { "x" } }, "perturbation_factors" },
      { { hyperparam_mutations = m, perturbation_factors = 1.2 }, "perturbation_factors" },
      { { hyperparam_mutations = m, mode = "maximize" }, "mode" },
      { { hyperparam_mutations = m, metric = 3 }, "metric" },
      { { hyperparam_mutations = m, time_attr = 7 }, "time_attr" },
      { { hyperparam_mutations = m, synch = "yes" }, "synch" },
      { { hyperparam_mutations = m, custom_explore_fn = 1 }, "custom_explore_fn" },
      { { hyperparam_mutations = { lr = 3 } }, "hyperparam_mutations.lr" },
      { { hyperparam_mutations = { o = { lr = {} } } }, "hyperparam_mutations.o.lr" },
      { { hyperparam_mutations = { lr = dsl.grid_search { 1, 2 } } }, "hyperparam_mutations.lr" },
      { { hyperparam_mutations = { lr = dsl.loguniform(0, 1) } }, "hyperparam_mutations.lr" },
      { { hyperparam_mutations = { 1, 2 } }, "hyperparam_mutations" },
      { {}, "hyperparam_mutations or custom_explore_fn" },
      { { hyperparam_mutations = m, perturbation_intervall = 3 }, "perturbation_intervall" },
    }
    for _, c in ipairs(cases) do
      local err = err_of(c[1])
      assert.is_truthy(err:find("pbt: ", 1, true), err)
      assert.is_truthy(err:find(c[2], 1, true), c[2] .. " not in: " .. err)
    end
  end)

  it("lists the accepted options for an unknown one", function()
    local err = err_of { hyperparam_mutations = m, log_config = true }
    assert.is_truthy(err:find("unknown option 'log_config' (accepted: burn_in_period, "
      .. "custom_explore_fn, hyperparam_mutations, metric, mode", 1, true), err)
  end)

  it("has Ray's defaults", function()
    local s = pbt { hyperparam_mutations = m }
    assert.are.equal("time_total_s", s.time_attr)
    assert.are.equal(60, s.perturbation_interval)
    assert.are.equal(0, s.burn_in_period)
    assert.are.equal(0.25, s.quantile_fraction)
    assert.are.equal(0.25, s.resample_probability)
    assert.are.same({ 1.2, 0.8 }, s.perturbation_factors)
    assert.is_false(s.synch)
    assert.are.equal("pbt", s.name)
  end)
end)

local toy, run_toy = T.toy, T.run

local PBT_TOY = [[tune.schedulers.pbt {
    time_attr = "training_iteration", perturbation_interval = 4, quantile_fraction = 0.5,
    hyperparam_mutations = { h = { tune.uniform(0, 1), tune.uniform(0, 1) } },
    synch = %s,
  }]]

describe("pbt on the toy of the PBT paper (Figure 2)", function()
  teardown(H.cleanup)

  it("without exploit each worker plateaus at Q = 0.3897 (1.2 - 0.81)", function()
    local qs, exploits = run_toy(toy "tune.schedulers.fifo {}")
    assert.are.equal(0, exploits)
    -- 1.2 - 0.81 - (0.9 · 0.98^200)² = 0.38974943...
    local expect = 1.2 - 0.81 - (0.9 * 0.98 ^ 200) ^ 2
    for _, q in ipairs(qs) do assert.is_true(math.abs(q - expect) < 1e-12, tostring(q)) end
  end)

  it("synch PBT reaches Q >= 1.19 on every seed", function()
    for seed = 1, 3 do
      local qs, exploits, journal = run_toy(toy(PBT_TOY:format("true")), seed)
      assert.are.equal(49, exploits) -- one bottom trial at each of the 49 barriers
      for _, q in ipairs(qs) do
        assert.is_true(q >= 1.1992 and q < 1.2, seed .. ": " .. q)
      end
      if seed == 1 then
        assert.is_true(math.abs(qs[1] - 1.1999612) < 1e-7, tostring(qs[1]))
        assert.is_true(math.abs(qs[2] - 1.1999641) < 1e-7, tostring(qs[2]))
        -- at the first barrier both tie; the earlier trial ranks lower and clones the other
        local first
        for _, e in ipairs(journal) do
          if e.ev == "exploit" then first = first or e end
        end
        assert.are.equal("00000", first.trial)
        assert.are.equal("00001", first.from)
        assert.are.equal(2, #first.config.h)
      end
    end
  end)

  it("asynchronous PBT reaches Q >= 1.19 (workers of slightly different speed)", function()
    -- In lock step the two workers tie exactly at every point and Ray's rule (the earlier
    -- trial ranks lower, only the reporting trial can exploit) never fires; a worker that is
    -- 1% slower per unit of h0 breaks the tie, as real asynchrony does.
    local src = toy(PBT_TOY:format("false"), { iteration_time = "function(c) return 1 + "
      .. "0.01 * c.h[1] end" })
    local qs, exploits = run_toy(src, 1)
    assert.are.equal(10, exploits)
    assert.is_true(math.abs(qs[1] - 1.19887) < 1e-5, tostring(qs[1]))
    assert.is_true(math.abs(qs[2] - 1.19875) < 1e-5, tostring(qs[2]))
  end)
end)

describe("pbt bad options through ./tunelua", function()
  teardown(H.cleanup)

  local function run_bad(sched)
    local src = 'local tune = require "tunelua"\n'
      .. "return tune.experiment {\n"
      .. "  trainer = { simulate = function() return { Q = 1 } end },\n"
      .. '  metric = "Q", mode = "max",\n'
      .. "  scheduler = " .. sched .. ",\n"   -- line 5
      .. "}\n"
    local exp = H.experiment(src, "bad_pbt.lua")
    return H.run { exp, "--dir", H.tmpdir() .. "/run", "--lua-dir", H.root }
  end

  it("exits 2 naming the option and file:line", function()
    local r = run_bad("tune.schedulers.pbt { quantile_fraction = 0.75, "
      .. "hyperparam_mutations = { lr = { 1, 2 } } }")
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("bad_pbt.lua:5: pbt: quantile_fraction must be between 0 "
      .. "and 0.5, got 0.75", 1, true), r.stderr)
    r = run_bad("tune.schedulers.pbt { hyperparam_mutations = { lr = 0.1 } }")
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("bad_pbt.lua:5: pbt: hyperparam_mutations.lr must be", 1,
      true), r.stderr)
  end)

  it("exits 2 when a local trainer does not checkpoint", function()
    local src = 'local tune = require "tunelua"\n'
      .. "return tune.experiment {\n"
      .. "  trainer = { cmd = { 'true' } },\n"
      .. '  metric = "Q", mode = "max",\n'
      .. "  scheduler = tune.schedulers.pbt { hyperparam_mutations = { lr = { 1, 2 } } },\n"
      .. "}\n"
    local exp = H.experiment(src, "bad_pbt.lua")
    local r = H.run { exp, "--dir", H.tmpdir() .. "/run", "--lua-dir", H.root }
    assert.are.equal(2, r.code, H.describe(r))
    assert.is_truthy(r.stderr:find("bad_pbt.lua:5: scheduler pbt: pbt needs the trainer to "
      .. "checkpoint: set checkpoint = { every = N }", 1, true), r.stderr)
  end)
end)

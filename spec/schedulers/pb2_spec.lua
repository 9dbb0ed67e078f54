-- PB2: the GP (lua/tunelua/gp.lua), PB2's data and explore step, options, and the toy of the
-- PBT paper run by the real binary.
local dsl = require "tunelua.dsl"
local gp = require "tunelua.gp"
local rng = require "tunelua.rng"
local pb2 = require "schedulers.pb2"
local H = require "spec.e2e.helpers"
local T = require "spec.schedulers.pbt_toy"

local function close(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-12)
end

describe("gp", function()
  it("factors and solves a small SPD matrix", function()
    local L = gp.cholesky({ 4, 2, 2, 3 }, 2)
    assert.is_true(close(L[1], 2) and close(L[3], 1) and close(L[4], math.sqrt(2)))
    assert.are.equal(0, L[2])
    assert.is_nil(gp.cholesky({ 1, 2, 2, 1 }, 2))
    local x = gp.backward(L, 2, gp.forward(L, 2, { 8, 7 })) -- A x = b
    assert.is_true(close(4 * x[1] + 2 * x[2], 8) and close(2 * x[1] + 3 * x[2], 7))
  end)

  it("has the time-varying squared exponential kernel of the paper", function()
    assert.are.equal(1, gp.kernel({ 0.3, 0.1, 0.2 }, { 0.3, 0.1, 0.2 }, 0.5, 0.1))
    -- time only: (1 - eps)^(|dt| / 2)
    assert.is_true(close(gp.kernel({ 0, 0.5 }, { 1, 0.5 }, 1, 0.19), 0.9))
    -- space only: exp(-|dz|² / l)
    assert.is_true(close(gp.kernel({ 0, 0, 0 }, { 0, 0.3, 0.4 }, 0.5, 0.1), math.exp(-0.5)))
  end)

  it("interpolates its data and is unsure far from it", function()
    local X, y = {}, {}
    for i = 0, 10 do
      X[#X + 1] = { 0, i / 10 }
      y[#y + 1] = math.sin(3 * i / 10)
    end
    local m = gp.fit(X, y)
    for i = 1, #X do
      local mu, var = m:predict(X[i])
      assert.is_true(close(mu, y[i], 0.05), i .. ": " .. mu)
      assert.is_true(var < 0.05)
      assert.is_true(close(m:mean(X[i]), mu))
    end
    local _, far = m:predict { 0, 5 }
    assert.is_true(far > 0.9)
  end)

  it("maximizes the UCB inside the unit box", function()
    local X, y = {}, {}
    for i = 0, 8 do
      X[#X + 1] = { 0, 0.5, i / 8 }
      y[#y + 1] = -((i / 8 - 0.7) ^ 2) * 10
    end
    local m = gp.fit(X, y)
    local z = gp.maximize_ucb(m, m, { 0, 0.5 }, 1, 0, rng.new(1), 128, 64)
    assert.is_true(math.abs(z[1] - 0.7) < 0.05, tostring(z[1]))
  end)
end)

-- A PB2 scheduler with fake trial views, as pbt_spec's harness.
local function harness(sched, cfgs, space)
  local exp = { metric = "score", mode = "max", trials = {}, space = space or {},
    rng = rng.new(1):derive("scheduler"), executor = "simulate", checkpoint = {} }
  sched:setup(exp)
  for i, c in ipairs(cfgs) do
    local v = { id = string.format("%05d", i - 1), index = i, status = "RUNNING", iteration = 0,
      config = c }
    exp.trials[i] = v
    sched:on_trial_add(v)
  end
  return exp
end

local function report(sched, t, it, score)
  local r = { training_iteration = it, time_total_s = it, score = score }
  t.iteration, t.last_result = it, r
  return sched:on_result(t, r)
end

describe("pb2", function()
  local function sched(o)
    o = o or {}
    o.time_attr = "training_iteration"
    o.perturbation_interval = 2
    o.quantile_fraction = 0.5
    o.hyperparam_bounds = o.hyperparam_bounds or { lr = { 0.001, 0.1 }, opt = { m = { 0, 1 } } }
    return pb2(o)
  end

  it("samples missing hyperparameters within the bounds", function()
    local s = sched()
    local exp = harness(s, { { lr = 0.01 }, {} })
    assert.are.equal(0.01, exp.trials[1].config.lr)
    local c = exp.trials[2].config
    assert.is_true(c.lr >= 0.001 and c.lr < 0.1 and c.opt.m >= 0 and c.opt.m < 1)
  end)

  it("turns perturbation points into (time, score before, h) -> score change per time",
    function()
      local s = sched()
      local exp = harness(s, { { lr = 0.01, opt = { m = 0.5 } }, { lr = 0.05, opt = { m = 0.1 } } })
      local t = exp.trials
      report(s, t[1], 2, 1)
      report(s, t[2], 2, 3)
      report(s, t[1], 4, 2)
      report(s, t[2], 4, 7)
      local pts = s:points()
      assert.are.equal(2, #pts)
      -- trial 1: score 1 -> 2 over 2 units; columns 3.. are the bounds in name order
      assert.are.same({ 1, 4, 1, 0.5 }, { pts[1].trial, pts[1].time, pts[1].before, pts[1].y })
      assert.are.same({ 0.01, 0.5 }, { pts[1][3], pts[1][4] })
      assert.are.same({ 2, 3, 2 }, { pts[2].trial, pts[2].before, pts[2].y })
    end)

  it("clones the config unchanged until the clone has data, then picks h by GP-UCB",
    function()
      local s = sched()
      local exp = harness(s, { { lr = 0.01, opt = { m = 0.5 } }, { lr = 0.05, opt = { m = 0.1 } } })
      local t = exp.trials
      report(s, t[2], 2, 3)
      local d = report(s, t[1], 2, 1)
      assert.are.equal(t[2], d.exploit)
      assert.are.same({ lr = 0.05, opt = { m = 0.1 } }, d.config)
      for it = 4, 12, 2 do
        report(s, t[2], it, 3 + it)
        d = report(s, t[1], it, 0)
        assert.are.equal(t[2], d.exploit)
        assert.is_true(d.config.lr >= 0.001 and d.config.lr <= 0.1)
        assert.is_true(d.config.opt.m >= 0 and d.config.opt.m <= 1)
        t[1].config = d.config
      end
      assert.is_true(d.config.lr ~= 0.05)
      assert.is_true(#s.current >= 1)
    end)

  it("keeps integer hyperparameters integers (an integer domain in the space)", function()
    local s = sched { hyperparam_bounds = { n = { 1, 64 } } }
    local exp = harness(s, { { n = 8 }, { n = 16 } }, { n = dsl.randint(1, 65) })
    local t = exp.trials
    local d
    for it = 2, 10, 2 do
      report(s, t[2], it, it)
      d = report(s, t[1], it, 0)
      t[1].config = d.config
    end
    assert.are.equal(math.floor(d.config.n), d.config.n)
  end)

  it("names bad options", function()
    local cases = {
      { {}, "hyperparam_bounds must be given" },
      { { hyperparam_bounds = { lr = { 1, 1 } } }, "hyperparam_bounds.lr must be { low, high } "
        .. "with low < high" },
      { { hyperparam_bounds = { lr = { 1 } } }, "hyperparam_bounds.lr must be { low, high }" },
      { { hyperparam_bounds = { o = { lr = "x" } } }, "hyperparam_bounds.o.lr must be" },
      { { hyperparam_bounds = { lr = { 0, 1 } }, quantile_fraction = 0.9 }, "quantile_fraction" },
      { { hyperparam_bounds = { lr = { 0, 1 } }, hyperparam_mutations = {} },
        "unknown option 'hyperparam_mutations'" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(pb2, c[1])
      assert.is_false(ok)
      assert.is_truthy(err:find("pb2: " .. c[2], 1, true), err)
    end
  end)
end)

describe("pb2 on the toy of the PBT paper", function()
  teardown(H.cleanup)

  local PB2_TOY = [[tune.schedulers.pb2 {
    time_attr = "training_iteration", perturbation_interval = 4, quantile_fraction = 0.5,
    hyperparam_bounds = { h = { { 0, 1 }, { 0, 1 } } }, synch = %s,
  }]]
  -- without exploit (pbt_spec.lua runs it): 1.2 - 0.81 - (0.9 · 0.98^200)²
  local plateau = 1.2 - 0.81 - (0.9 * 0.98 ^ 200) ^ 2

  it("synch PB2 reaches Q >= 1.19 where the workers alone plateau at 0.39", function()
    local qs, exploits = T.run(T.toy(PB2_TOY:format("true")), 1)
    assert.are.equal(49, exploits)
    assert.is_true(close(qs[1], 1.198995, 1e-6), tostring(qs[1]))
    assert.is_true(close(qs[2], 1.199109, 1e-6), tostring(qs[2]))
    assert.is_true(qs[1] > plateau + 0.8)
  end)
end)

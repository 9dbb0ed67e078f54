-- The surrogate benchmarks of examples/research/: the properties their headers claim.
local H = require "spec.e2e.helpers"
local rng = require "tunelua.rng"

local R = H.root .. "/examples/research/"

local function ranks(v)
  local idx = {}
  for i = 1, #v do idx[i] = i end
  table.sort(idx, function(a, b) return v[a] < v[b] end)
  local r = {}
  for k, i in ipairs(idx) do r[i] = k end
  return r
end

local function spearman(a, b)
  local ra, rb, n, d2 = ranks(a), ranks(b), #a, 0
  for i = 1, n do d2 = d2 + (ra[i] - rb[i]) ^ 2 end
  return 1 - 6 * d2 / (n * (n * n - 1))
end

-- Runs `tunelua compare` and returns compare.json's methods by label.
local function compare(args)
  local out = H.tmpdir() .. "/cmp"
  local full = { "compare" }
  for _, a in ipairs(args) do full[#full + 1] = a end
  full[#full + 1] = "--dir"
  full[#full + 1] = out
  local r = H.run(full)
  assert.are.equal(0, r.code, H.describe(r))
  local doc = H.json(out .. "/compare.json")
  local by = {}
  for _, m in ipairs(doc.methods) do by[m.label] = m end
  return by, doc
end

describe("examples/research/mf.lua", function()
  local mf = dofile(R .. "mf.lua")

  it("is an experiment that keeps its functions", function()
    assert.is_true(require("tunelua").is_experiment(mf))
    assert.are.equal("function", type(mf.preset))
    assert.are.equal("loss", mf.metric)
  end)

  it("orders its presets good -> terrible by rank correlation at low fidelity", function()
    local prev = math.huge
    for _, name in ipairs(mf.order) do
      local p = mf.preset(name)
      local sum = 0
      for _, t in ipairs { 1, 3, 9, 27 } do
        local r = rng.new(42)
        local low, fin = {}, {}
        for i = 1, 400 do
          local x = {}
          for j = 1, p.d do x[j] = r:random() end
          low[i], fin[i] = mf.value(x, t, p, r:normal(0, 1))
        end
        sum = sum + spearman(low, fin)
      end
      local rho = sum / 4
      assert.is_true(rho < prev - 0.04, string.format("%s: %.3f after %.3f", name, rho, prev))
      prev = rho
    end
    assert.is_true(prev < -0.5) -- terrible: inverted
  end)

  it("gives PBT's new config effect at once (x is read from the config each step)", function()
    local p = mf.preset("good")
    local f = mf.trainer(p)
    local a = f({ x1 = 0.1, x2 = 0.1, x3 = 0.1 }, 5, {}, rng.new(1))
    local state = {}
    f({ x1 = 0.9, x2 = 0.9, x3 = 0.9 }, 4, state, rng.new(1))
    local b = f({ x1 = 0.1, x2 = 0.1, x3 = 0.1 }, 5, state, rng.new(1))
    assert.are.equal(a.final, b.final)
  end)
end)

describe("examples/research/curves.lua", function()
  local lc = dofile(R .. "curves.lua")

  for _, name in ipairs(lc.names) do
    it(name .. ": starts at beta, rises monotonically, stays below and tends to alpha", function()
      local f = lc.families[name]
      for _, c in ipairs { { 0.3, 0.6 }, { 0.9, 0.1 }, { 0, 1 }, { 1, 1 } } do
        local alpha, kappa = lc.asymptote(c[1], c[2]), lc.speed(c[1])
        assert.is_true(alpha >= 0.55 - 1e-12 and alpha <= 0.95 + 1e-12)
        assert.is_true(math.abs(f(1, alpha, kappa) - lc.beta) < 1e-12)
        local prev = f(1, alpha, kappa)
        for t = 2, 300 do
          local y = f(t, alpha, kappa)
          -- strictly until it is within rounding of alpha
          local ok = (y > prev or alpha - prev < 1e-12) and y <= alpha
          assert.is_true(ok, name .. " t=" .. t)
          prev = y
        end
        local far = name == "ilog2" and 1e300 or 1e7
        assert.is_true(alpha - f(far, alpha, kappa) < 0.01 * (alpha - lc.beta), name)
      end
    end)
  end

  it("makes curves cross: a fast learner leads early, the best asymptote wins late", function()
    for _, name in ipairs(lc.names) do
      local fast = { x1 = 0.95, x2 = 0.6 }
      local best = { x1 = 0.3, x2 = 0.6 }
      assert.is_true(lc.value(name, fast, 3) > lc.value(name, best, 3), name)
      assert.is_true(lc.value(name, fast, 1e9) < lc.value(name, best, 1e9), name)
    end
  end)

  for _, name in ipairs(lc.names) do
    it("LC_FAMILY=" .. name .. " runs under tunelua compare", function()
      local out = H.tmpdir() .. "/cmp"
      local r = H.run({ "compare", R .. "curves.lua", "--schedulers", "asha", "--repeat", "1",
        "--budget", "150", "--dir", out }, { env = { LC_FAMILY = name } })
      assert.are.equal(0, r.code, H.describe(r))
      local doc = H.json(out .. "/compare.json")
      assert.are.equal("curves-" .. name, doc.name)
      local best = doc.runs[1].best
      assert.is_true(best > lc.beta and best < 0.95 + 0.05, tostring(best))
    end)
  end
end)

describe("examples/research/triangle.lua", function()
  it("PBT follows the triangle wave to the end, FIFO (a fixed lr) does not", function()
    local by, doc = compare { R .. "triangle.lua", "--schedulers", "fifo,pbt", "--repeat", "3" }
    for _, run in ipairs(doc.runs) do
      if run.method == "pbt-random" then
        assert.is_true(run.best > 200, run.label .. ": " .. run.best)
      else
        assert.is_true(run.best < 120, run.label .. ": " .. run.best)
      end
    end
    assert.is_true(by["pbt-random"].best_mean > by["fifo-random"].best_mean + 100)
  end)
end)

describe("examples/research/pbt_toy.lua", function()
  it("PBT reaches Q ~ 1.2 where each worker alone plateaus at 0.38975", function()
    local by = compare { R .. "pbt_toy.lua", "--schedulers", "fifo,pbt", "--repeat", "2" }
    local fifo, pbt = by["fifo-random"], by["pbt-random"]
    assert.is_true(math.abs(fifo.best_max - 0.38975) < 1e-4, tostring(fifo.best_max))
    assert.is_true(pbt.best_min > 1.19, tostring(pbt.best_min))
  end)
end)

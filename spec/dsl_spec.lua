local dsl = require "tunelua.dsl"
local rng = require "tunelua.rng"

-- The line of the caller: put it on the same line as a constructor.
local function line()
  return debug.getinfo(2, "l").currentline
end

local function samples(d, n, seed)
  local r = rng.new(seed or 1)
  local out = {}
  for i = 1, n do
    out[i] = dsl.sample(d, r)
  end
  return out
end

local function is_int(x)
  return type(x) == "number" and math.floor(x) == x
end

local function counts(list)
  local c = {}
  for _, v in ipairs(list) do
    c[v] = (c[v] or 0) + 1
  end
  return c
end

local function keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

local function validate_error(space)
  local ok, err = pcall(dsl.validate, space)
  assert.is_false(ok)
  return err
end

describe("tunelua.dsl", function()
  describe("domains", function()
    it("are recognised by is_domain and print like calls", function()
      assert.is_true(dsl.is_domain(dsl.uniform(0, 1)))
      assert.is_false(dsl.is_domain({ kind = "uniform" }))
      assert.is_false(dsl.is_domain(3))
      assert.are.equal("loguniform(1e-06, 0.1)", tostring(dsl.loguniform(1e-6, 0.1)))
      assert.are.equal('choice({"a", "b"})', tostring(dsl.choice { "a", "b" }))
    end)

    it("record the file:line of the call", function()
      local d, l = dsl.uniform(0, 1), line()
      assert.is_truthy(d.where:match("dsl_spec%.lua:" .. l .. "$"), d.where)
    end)

    it("copy choice lists", function()
      local list = { 1, 2 }
      local d = dsl.choice(list)
      list[1] = 99
      assert.are.same({ 1, 2 }, d.values)
    end)
  end)

  describe("sampling", function()
    local N = 4000

    it("uniform: [low, high)", function()
      local lo, hi = 1, 0
      for _, x in ipairs(samples(dsl.uniform(2, 5), N)) do
        assert.is_true(x >= 2 and x < 5)
        lo, hi = math.min(lo, x - 2), math.max(hi, x - 2)
      end
      assert.is_true(lo < 0.01 and hi > 2.99)
    end)

    it("quniform: exact multiples of q, both ends included", function()
      local seen = {}
      for _, x in ipairs(samples(dsl.quniform(0, 1, 0.1), N)) do
        local k = math.floor(x / 0.1 + 0.5)
        assert.are.equal(k * 0.1, x)   -- round(x / q) * q, as Ray computes it
        assert.is_true(k >= 0 and k <= 10)
        seen[k] = true
      end
      for k = 0, 10 do assert.is_true(seen[k], "never drew " .. k) end
      local c = counts(samples(dsl.quniform(0, 1, 0.1), N))
      assert.is_truthy(c[3 * 0.1])       -- 0.30000000000000004, as numpy gives
    end)

    it("loguniform: in range, median at the geometric mean", function()
      local xs = samples(dsl.loguniform(1e-4, 1e-1), N)
      local below = 0
      for _, x in ipairs(xs) do
        assert.is_true(x >= 1e-4 and x < 1e-1)
        if x < 1e-3 then below = below + 1 end
      end
      table.sort(xs)
      local med = xs[N / 2]
      assert.is_true(math.abs(math.log10(med) + 2.5) < 0.1, "median " .. med)
      assert.is_true(math.abs(below / N - 1 / 3) < 0.03)
    end)

    it("loguniform: the base does not change the distribution", function()
      local xs = samples(dsl.loguniform(1, 1024, 2), N)
      table.sort(xs)
      assert.is_true(math.abs(math.log(xs[N / 2], 2) - 5) < 0.2)
    end)

    it("qloguniform: multiples of q within [low, high], high included", function()
      local seen = {}
      for _, x in ipairs(samples(dsl.qloguniform(1, 100, 1), 10000)) do
        assert.is_true(is_int(x) and x >= 1 and x <= 100)
        seen[x] = true
      end
      assert.is_true(seen[1] and seen[100])
      for _, x in ipairs(samples(dsl.qloguniform(1e-4, 1e-2, 1e-4), N)) do
        local k = math.floor(x / 1e-4 + 0.5)
        assert.are.equal(k * 1e-4, x)
        assert.is_true(k >= 1 and k <= 100)
      end
    end)

    it("randn: mean and sd", function()
      local xs = samples(dsl.randn(5, 2), N)
      local s, sq = 0, 0
      for _, x in ipairs(xs) do s, sq = s + x, sq + x * x end
      local m = s / N
      assert.is_true(math.abs(m - 5) < 0.1)
      assert.is_true(math.abs(math.sqrt(sq / N - m * m) - 2) < 0.1)
      local d = dsl.randn()
      assert.are.equal(0, d.mean)
      assert.are.equal(1, d.sd)
    end)

    it("qrandn: multiples of q", function()
      for _, x in ipairs(samples(dsl.qrandn(1, 3, 0.5), N)) do
        assert.is_true(is_int(x * 2), tostring(x))
      end
    end)

    it("randint: integers in [low, high), high excluded", function()
      local c = counts(samples(dsl.randint(0, 5), N))
      assert.are.same({ 0, 1, 2, 3, 4 }, keys(c))
      for v, n in pairs(c) do
        assert.is_true(is_int(v))
        assert.is_true(math.abs(n - N / 5) < 150)
      end
    end)

    it("qrandint: multiples of q in [low, high], high included", function()
      assert.are.same({ 0, 5, 10 }, keys(counts(samples(dsl.qrandint(0, 10, 5), N))))
      assert.are.same({ 1, 2, 3, 4 }, keys(counts(samples(dsl.qrandint(1, 4), N))))
      assert.are.same({ 5, 10, 15 }, keys(counts(samples(dsl.qrandint(3, 17, 5), N))))
      local c = counts(samples(dsl.qrandint(0, 10, 5), 6000))
      for _, v in ipairs({ 0, 5, 10 }) do
        assert.is_true(math.abs(c[v] - 2000) < 150)
      end
    end)

    it("lograndint: integers in [low, high), high excluded, log-distributed", function()
      local c = counts(samples(dsl.lograndint(1, 10), N))
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9 }, keys(c))
      -- P(1) = log10(2)
      assert.is_true(math.abs(c[1] / N - math.log10(2)) < 0.03)
      assert.is_true(c[1] > c[9] * 3)
    end)

    it("qlograndint: multiples of q in [low, high], high included", function()
      local seen = {}
      for _, x in ipairs(samples(dsl.qlograndint(1, 100, 10), N)) do
        assert.is_true(is_int(x) and x % 10 == 0 and x >= 10 and x <= 100)
        seen[x] = true
      end
      assert.is_true(seen[10] and seen[100])
      assert.is_true(counts(samples(dsl.qlograndint(1, 8, 1, 2), N))[8] ~= nil)
    end)

    it("choice: every value, uniformly", function()
      local c = counts(samples(dsl.choice { "a", "b", "c" }, 3000))
      for _, v in ipairs({ "a", "b", "c" }) do
        assert.is_true(math.abs(c[v] - 1000) < 100)
      end
    end)

    it("is deterministic for a seed and differs across seeds", function()
      local d = dsl.loguniform(1e-5, 1)
      assert.are.same(samples(d, 20, 9), samples(d, 20, 9))
      assert.are_not.same(samples(d, 20, 9), samples(d, 20, 10))
    end)

    it("refuses to sample an invalid domain", function()
      assert.has_error(function() dsl.sample(dsl.uniform(1, 0), rng.new(1)) end)
    end)
  end)

  describe("argument errors", function()
    local cases = {
      { dsl.uniform(1, 1), "uniform(1, 1): low must be < high" },
      { dsl.uniform("a", 1), 'uniform("a", 1): low must be a number' },
      { dsl.uniform(0, math.huge), "high must be finite" },
      { dsl.quniform(0, 1, 0), "quniform(0, 1, 0): q must be > 0" },
      { dsl.quniform(0, 1, -1), "q must be > 0" },
      { dsl.quniform(0.05, 1, 0.1), "low must be a multiple of q" },
      { dsl.loguniform(0, 1), "loguniform(0, 1): low must be > 0" },
      { dsl.loguniform(-1, 1), "low must be > 0" },
      { dsl.loguniform(1, 10, 1), "base must be > 0" },
      { dsl.qloguniform(1e-3, 1, nil), "q must be a number" },
      { dsl.randn(0, 0), "randn(0, 0): sd must be > 0" },
      { dsl.randn(0, -1), "sd must be > 0" },
      { dsl.qrandn(0, 1, 0), "q must be > 0" },
      { dsl.randint(5, 5), "randint(5, 5): low must be < high" },
      { dsl.randint(0.5, 5), "low must be an integer" },
      { dsl.qrandint(0, 10, 0), "q must be > 0" },
      { dsl.qrandint(0, 10, 2.5), "q must be an integer" },
      { dsl.qrandint(1, 4, 5), "no multiple of q" },
      { dsl.lograndint(0, 10), "lograndint(0, 10): low must be > 0" },
      { dsl.qlograndint(0, 10, 1), "low must be > 0" },
      { dsl.choice {}, "choice({}): list must not be empty" },
      { dsl.choice("abc"), "expects a list" },
      { dsl.grid_search {}, "list must not be empty" },
      { dsl.sample_from(42), "sample_from(42): expects a function" },
    }
    for i, case in ipairs(cases) do
      it("case " .. i .. ": " .. case[2], function()
        local d = case[1]
        assert.is_truthy(d.err, tostring(d))
        assert.is_truthy(d.err:find(case[2], 1, true), d.err)
      end)
    end

    it("are not raised at construction", function()
      assert.has_no.errors(function() dsl.loguniform(0, 1) end)
    end)

    it("valid domains carry no error", function()
      for _, d in ipairs({ dsl.uniform(0, 1), dsl.quniform(0, 1, 0.1), dsl.loguniform(1e-6, 1),
                           dsl.qloguniform(1e-4, 1e-2, 1e-4), dsl.randn(), dsl.qrandn(0, 1, 0.5),
                           dsl.randint(0, 3), dsl.qrandint(0, 10), dsl.lograndint(1, 100),
                           dsl.qlograndint(1, 100, 5), dsl.choice { 1 }, dsl.grid_search { 1 },
                           dsl.sample_from(function() end) }) do
        assert.is_nil(d.err, tostring(d))
      end
    end)
  end)

  describe("validate", function()
    it("names file:line and the config path", function()
      local space, l = { optim = { lr = dsl.loguniform(0, 1) } }, line()
      local err = validate_error(space)
      assert.is_truthy(err:match("dsl_spec%.lua:" .. l
                                 .. ": config%.optim%.lr: loguniform%(0, 1%): low must be > 0$"),
                       err)
    end)

    it("reports the first invalid domain in sorted path order", function()
      local err = validate_error({ b = dsl.uniform(2, 1), a = { z = dsl.randint(3, 1) } })
      assert.is_truthy(err:find("config.a.z: randint(3, 1)", 1, true), err)
    end)

    it("writes list indices and odd keys as Lua would", function()
      local err = validate_error({ layers = { 4, dsl.randint(2, 2) } })
      assert.is_truthy(err:find(": config.layers[2]: ", 1, true), err)
      err = validate_error({ ["my key"] = dsl.choice {} })
      assert.is_truthy(err:find(': config["my key"]: ', 1, true), err)
      local ok, err2 = pcall(dsl.validate, { x = dsl.uniform(1, 0) }, "cfg")
      assert.is_false(ok)
      assert.is_truthy(err2:find(": cfg.x: ", 1, true), err2)
    end)

    it("looks inside choice values", function()
      local err = validate_error({ m = dsl.choice { { lr = dsl.uniform(1, 0) } } })
      assert.is_truthy(err:find("config.m.lr: uniform(1, 0)", 1, true), err)
      err = validate_error({ m = dsl.choice { dsl.grid_search { 1, 2 } } })
      assert.is_truthy(err:find("grid_search inside a choice", 1, true), err)
    end)

    it("rejects keys that are not strings or list indices", function()
      assert.is_truthy(validate_error({ a = { [true] = 1 } }):find("config.a: key true", 1, true))
      assert.is_truthy(validate_error({ a = { [1.5] = 1 } }):find("config.a: key 1.5", 1, true))
      assert.is_truthy(validate_error({ a = { 1, 2, x = 3 } }):find("mixes list items", 1, true))
      assert.is_truthy(validate_error({ a = { [1] = 1, [3] = 3 } }):find("holes", 1, true))
    end)

    it("rejects a table that contains itself", function()
      local t = {}
      t.self = t
      assert.is_truthy(validate_error({ a = t }):find("contains itself", 1, true))
    end)

    it("accepts a good space and shared subtables", function()
      local shared = { units = dsl.randint(1, 4) }
      assert.is_true(dsl.validate({ a = shared, b = shared, c = { 1, 2, 3 }, d = "x" }))
    end)

    it("rejects a space that is not a table", function()
      assert.has_error(function() dsl.validate(dsl.uniform(0, 1)) end)
      assert.has_error(function() dsl.validate(3) end)
    end)
  end)

  describe("paths", function()
    it("lists domains in sorted path order, numbers before strings", function()
      local space = {
        z = dsl.uniform(0, 1),
        a = { c = dsl.randint(0, 2), b = dsl.choice { 1, 2 }, n = 3 },
        list = { dsl.randn(), 7, dsl.randn() },
        ["x y"] = dsl.grid_search { 1 },
      }
      local got = {}
      for i, e in ipairs(dsl.paths(space)) do
        got[i] = e.path
        assert.is_true(dsl.is_domain(e.domain))
      end
      assert.are.same({ "a.b", "a.c", "list[1]", "list[3]", '["x y"]', "z" }, got)
    end)
  end)

  describe("grid", function()
    it("is one empty assignment without grid_search", function()
      assert.are.same({ {} }, dsl.grid({ a = dsl.uniform(0, 1), b = 2 }))
    end)

    it("is the cartesian product, first path fastest", function()
      local g = dsl.grid({
        b = dsl.grid_search { "x", "y", "z" },
        a = dsl.grid_search { 1, 2 },
        c = dsl.uniform(0, 1),
      })
      assert.are.same({
        { a = 1, b = "x" }, { a = 2, b = "x" },
        { a = 1, b = "y" }, { a = 2, b = "y" },
        { a = 1, b = "z" }, { a = 2, b = "z" },
      }, g)
    end)

    it("counts the product over nested grids", function()
      local g = dsl.grid({
        model = { depth = dsl.grid_search { 1, 2, 3 }, width = dsl.grid_search { 8, 16 } },
        opt = dsl.grid_search { "sgd", "adam" },
      })
      assert.are.equal(12, #g)
      assert.are.same({ ["model.depth"] = 1, ["model.width"] = 8, opt = "sgd" }, g[1])
    end)

    it("raises for an invalid grid_search", function()
      assert.has_error(function() dsl.grid({ a = dsl.grid_search {} }) end)
    end)
  end)

  describe("resolve", function()
    it("copies constants deeply and samples every domain", function()
      local shape = { 3, 4 }
      local space = { name = "x", shape = shape, lr = dsl.loguniform(1e-4, 1e-1),
                      nested = { units = dsl.randint(1, 5), fixed = true } }
      local c = dsl.resolve(space, rng.new(1))
      assert.are.equal("x", c.name)
      assert.are.same({ 3, 4 }, c.shape)
      assert.are_not.equal(shape, c.shape)
      assert.is_true(c.lr >= 1e-4 and c.lr < 1e-1)
      assert.is_true(is_int(c.nested.units))
      assert.is_true(c.nested.fixed)
      assert.is_nil(getmetatable(c))
    end)

    it("is deterministic for a seed", function()
      local space = { a = dsl.uniform(0, 1), b = dsl.choice { 1, 2, 3 }, c = dsl.randn() }
      assert.are.same(dsl.resolve(space, rng.new(5)), dsl.resolve(space, rng.new(5)))
      assert.are_not.same(dsl.resolve(space, rng.new(5)), dsl.resolve(space, rng.new(6)))
    end)

    it("samples in sorted path order, whatever the table's insertion order", function()
      local s1 = { a = dsl.uniform(0, 1), b = dsl.uniform(0, 1) }
      local s2 = {}
      s2.b = dsl.uniform(0, 1)
      s2.a = dsl.uniform(0, 1)
      assert.are.same(dsl.resolve(s1, rng.new(3)), dsl.resolve(s2, rng.new(3)))
      -- a key that sorts last does not change the values before it
      local s3 = { a = dsl.uniform(0, 1), b = dsl.uniform(0, 1), zz = dsl.uniform(0, 1) }
      local c1, c3 = dsl.resolve(s1, rng.new(3)), dsl.resolve(s3, rng.new(3))
      assert.are.equal(c1.a, c3.a)
      assert.are.equal(c1.b, c3.b)
    end)

    it("takes grid values from the assignment", function()
      local space = { bs = dsl.grid_search { 32, 64 }, lr = dsl.uniform(0, 1) }
      local g = dsl.grid(space)
      assert.are.equal(64, dsl.resolve(space, rng.new(1), g[2]).bs)
      local err = select(2, pcall(dsl.resolve, space, rng.new(1)))
      assert.is_truthy(err:find("config.bs: no grid value assigned", 1, true), err)
    end)

    it("lets an assignment fix any domain", function()
      local space = { lr = dsl.uniform(0, 1), m = dsl.choice { "a", "b" } }
      local c = dsl.resolve(space, rng.new(1), { lr = 0.25, m = "b" })
      assert.are.same({ lr = 0.25, m = "b" }, c)
    end)

    it("resolves domains inside a chosen value", function()
      local space = { opt = dsl.choice {
        { name = "sgd", momentum = dsl.uniform(0.8, 0.99) },
        { name = "adam", betas = { dsl.uniform(0.8, 0.9), 0.999 } },
      } }
      local seen = {}
      local r = rng.new(4)
      for _ = 1, 50 do
        local c = dsl.resolve(space, r)
        seen[c.opt.name] = true
        if c.opt.name == "sgd" then
          assert.is_true(c.opt.momentum >= 0.8 and c.opt.momentum < 0.99)
        else
          assert.is_true(c.opt.betas[1] >= 0.8 and c.opt.betas[1] < 0.9)
          assert.are.equal(0.999, c.opt.betas[2])
        end
        assert.are_not.equal(space.opt.values[1], c.opt)
      end
      assert.is_true(seen.sgd and seen.adam)
    end)

    it("calls sample_from last, with the config so far and the rng", function()
      local got_rng
      local space = {
        penalty = dsl.choice { "l2", "elasticnet" },
        l1_ratio = dsl.sample_from(function(c, r)
          got_rng = r
          return c.penalty == "elasticnet" and 0.5 or 0
        end),
      }
      local r = rng.new(2)
      for _ = 1, 20 do
        local c = dsl.resolve(space, r)
        assert.are.equal(c.penalty == "elasticnet" and 0.5 or 0, c.l1_ratio)
      end
      assert.are.equal(r, got_rng)
    end)

    it("orders dependent sample_from functions", function()
      local space = {
        a = dsl.sample_from(function(c) return c.b * 2 end),   -- needs b, sorts first
        b = dsl.sample_from(function(c) return c.n.x + 1 end),
        n = { x = dsl.randint(1, 10) },
      }
      local c = dsl.resolve(space, rng.new(1))
      assert.are.equal(c.n.x + 1, c.b)
      assert.are.equal(c.b * 2, c.a)
      assert.is_nil(getmetatable(c))
    end)

    it("samples a domain returned by sample_from", function()
      local space = { k = dsl.sample_from(function() return dsl.randint(10, 12) end) }
      local c = dsl.resolve(space, rng.new(1))
      assert.is_true(c.k == 10 or c.k == 11)
    end)

    it("reports a cycle between sample_from functions", function()
      local space = { a = dsl.sample_from(function(c) return c.b end),
                      b = dsl.sample_from(function(c) return c.a end) }
      local ok, err = pcall(dsl.resolve, space, rng.new(1))
      assert.is_false(ok)
      assert.is_truthy(err:find("depend on each other: config.a, config.b", 1, true), err)
    end)

    it("reports a failing sample_from with where and path", function()
      local space, l = { x = { y = dsl.sample_from(function() error("boom") end) } }, line()
      local ok, err = pcall(dsl.resolve, space, rng.new(1))
      assert.is_false(ok)
      assert.is_truthy(err:match("dsl_spec%.lua:" .. l .. ": config%.x%.y: sample_from "
                                 .. "function failed: .*boom"), err)
    end)

    it("resolves list elements one by one", function()
      local c = dsl.resolve({ layers = { dsl.randint(1, 3), dsl.randint(5, 7), 9 } }, rng.new(1))
      assert.is_true(c.layers[1] >= 1 and c.layers[1] < 3)
      assert.is_true(c.layers[2] >= 5 and c.layers[2] < 7)
      assert.are.equal(9, c.layers[3])
    end)

    it("returns exact integers for integer domains", function()
      local space = { a = dsl.randint(-5, 5), b = dsl.qrandint(0, 100, 7),
                      c = dsl.lograndint(1, 1000), d = dsl.qlograndint(2, 1000, 3) }
      local r = rng.new(8)
      for _ = 1, 500 do
        local c = dsl.resolve(space, r)
        for _, k in ipairs({ "a", "b", "c", "d" }) do
          assert.is_true(is_int(c[k]), k .. " = " .. tostring(c[k]))
        end
        assert.are.equal(0, c.b % 7)
        assert.are.equal(0, c.d % 3)
      end
    end)

    it("needs an rng only when something is sampled", function()
      assert.are.same({ a = 1, b = 2 }, dsl.resolve({ a = 1, b = dsl.grid_search { 2 } }, nil,
                                                    { b = 2 }))
      assert.has_error(function() dsl.resolve({ a = dsl.uniform(0, 1) }) end)
    end)
  end)

  describe("snap", function()
    it("maps raw numbers to the nearest valid value", function()
      assert.are.equal(0.30000000000000004, dsl.snap(dsl.quniform(0, 1, 0.1), 0.31))
      assert.are.equal(1, dsl.snap(dsl.quniform(0, 1, 0.1), 7))
      assert.are.equal(4, dsl.snap(dsl.randint(0, 5), 9))
      assert.are.equal(2, dsl.snap(dsl.randint(0, 5), 2.4))
      assert.are.equal(10, dsl.snap(dsl.qrandint(0, 10, 5), 8))
      assert.are.equal(0.5, dsl.snap(dsl.uniform(0, 1), 0.5))
      assert.are.equal(1, dsl.snap(dsl.uniform(0, 1), 3))
    end)

    it("rounds half to even like numpy", function()
      assert.are.equal(2, dsl.round(2.5))
      assert.are.equal(4, dsl.round(3.5))
      assert.are.equal(-2, dsl.round(-2.5))
      assert.are.equal(3, dsl.round(2.6))
    end)
  end)
end)

local dsl = require "tunelua.dsl"
local rng = require "tunelua.rng"
local random = require "schedulers.random"
local grid = require "schedulers.grid"
local fifo = require "schedulers.fifo"

local function line()
  return debug.getinfo(2, "l").currentline
end

local function exp_ctx(space, num_samples, seed)
  return { space = space, num_samples = num_samples, rng = rng.new(seed or 1):derive("searcher"),
           metric = "loss", mode = "min", trials = {}, seed = seed or 1 }
end

-- Every config a searcher suggests until it says nil.
local function drain(s, limit)
  local out = {}
  for i = 1, limit or 10000 do
    local c = s:suggest("t" .. i)
    if c == nil then break end
    out[#out + 1] = c
  end
  return out
end

local function opt_error(ctor, opts)
  local ok, err = pcall(ctor, opts)
  assert.is_false(ok)
  return err
end

describe("searcher: random", function()
  it("is named and ignores results", function()
    local s = random()
    assert.are.equal("random", s.name)
    s:setup(exp_ctx({ a = dsl.uniform(0, 1) }, 1))
    assert.has_no.errors(function()
      s:on_result("t1", { loss = 1 })
      s:on_trial_complete("t1", { loss = 1 })
    end)
  end)

  it("suggests num_samples x grid configs, then nil for good", function()
    local s = random {}
    s:setup(exp_ctx({ bs = dsl.grid_search { 16, 32, 64 }, lr = dsl.loguniform(1e-4, 1e-1),
                      opt = dsl.grid_search { "sgd", "adam" } }, 4))
    local cs = drain(s)
    assert.are.equal(4 * 6, #cs)
    assert.is_nil(s:suggest("again"))
    assert.is_nil(s:suggest("and again"))
    for _, c in ipairs(cs) do
      assert.is_true(c.lr >= 1e-4 and c.lr < 1e-1)
    end
  end)

  it("loops samples outside and grid points inside, as Ray Tune", function()
    local s = random()
    s:setup(exp_ctx({ bs = dsl.grid_search { 1, 2, 3 }, x = dsl.uniform(0, 1) }, 2))
    local order = {}
    for i, c in ipairs(drain(s)) do order[i] = c.bs end
    assert.are.same({ 1, 2, 3, 1, 2, 3 }, order)
  end)

  it("gives one config per sample without grid_search", function()
    local s = random()
    s:setup(exp_ctx({ x = dsl.uniform(0, 1) }, 5))
    local cs = drain(s)
    assert.are.equal(5, #cs)
    local distinct = {}
    for _, c in ipairs(cs) do distinct[c.x] = true end
    local n = 0
    for _ in pairs(distinct) do n = n + 1 end
    assert.are.equal(5, n)
  end)

  it("is deterministic for a seed and differs across seeds", function()
    local space = { x = dsl.uniform(0, 1), k = dsl.randint(0, 1000), m = dsl.choice { 1, 2, 3 } }
    local a, b, c = random(), random(), random()
    a:setup(exp_ctx(space, 10, 7))
    b:setup(exp_ctx(space, 10, 7))
    c:setup(exp_ctx(space, 10, 8))
    local da = drain(a)
    assert.are.same(da, drain(b))
    assert.are_not.same(da, drain(c))
  end)

  it("gives trial i the same config however the rng was used before", function()
    local space = { x = dsl.uniform(0, 1) }
    local ctx1, ctx2 = exp_ctx(space, 3, 5), exp_ctx(space, 3, 5)
    for _ = 1, 100 do ctx2.rng:random() end
    local a, b = random(), random()
    a:setup(ctx1)
    b:setup(ctx2)
    assert.are.same(drain(a), drain(b))
  end)

  it("honours max_trials", function()
    local s = random { max_trials = 3 }
    s:setup(exp_ctx({ x = dsl.uniform(0, 1) }, 10))
    assert.are.equal(3, #drain(s))
  end)

  it("evaluates sample_from per trial", function()
    local s = random()
    s:setup(exp_ctx({ a = dsl.randint(0, 10),
                      b = dsl.sample_from(function(c) return c.a * 10 end) }, 20))
    for _, c in ipairs(drain(s)) do
      assert.are.equal(c.a * 10, c.b)
    end
  end)

  it("reports an invalid space at setup with file:line and path", function()
    local space, l = { optim = { lr = dsl.loguniform(0, 1) } }, line()
    local s = random()
    local ok, err = pcall(s.setup, s, exp_ctx(space, 1))
    assert.is_false(ok)
    assert.is_truthy(err:match("searchers_spec%.lua:" .. l .. ": config%.optim%.lr: "), err)
  end)

  it("rejects unknown and malformed options at the caller's line", function()
    local err = opt_error(random, { max_trial = 3 })
    assert.is_truthy(err:find("unknown option 'max_trial'", 1, true), err)
    assert.is_truthy(opt_error(random, { max_trials = 0 }):find("max_trials", 1, true))
    assert.is_truthy(opt_error(random, { max_trials = 1.5 }):find("max_trials", 1, true))
    assert.is_truthy(opt_error(random, "x"):find("options must be a table", 1, true))
  end)

  it("points option errors at the experiment file", function()
    local l = line() + 2
    local ok, err = pcall(function()
      local s = random { bogus = true }
      return s
    end)
    assert.is_false(ok)
    assert.is_truthy(err:match("searchers_spec%.lua:" .. l .. ": random: unknown option"), err)
  end)
end)

describe("searcher: grid", function()
  it("is named", function()
    assert.are.equal("grid", grid().name)
  end)

  it("crosses grid_search, choice and discretised numeric domains", function()
    local s = grid()
    s:setup(exp_ctx({ bs = dsl.grid_search { 16, 32 }, opt = dsl.choice { "sgd", "adam", "rms" },
                      lr = dsl.uniform(0, 1), fixed = 7 }, 1))
    local cs = drain(s)
    assert.are.equal(2 * 3 * 3, #cs)
    local seen = {}
    for _, c in ipairs(cs) do
      local key = c.bs .. "/" .. c.opt .. "/" .. c.lr
      assert.is_nil(seen[key], "duplicate " .. key)
      seen[key] = true
      assert.are.equal(7, c.fixed)
    end
    assert.is_nil(s:suggest("x"))
  end)

  it("orders points with the first path fastest", function()
    local s = grid()
    s:setup(exp_ctx({ a = dsl.grid_search { 1, 2 }, b = dsl.choice { "x", "y" } }, 1))
    local got = {}
    for i, c in ipairs(drain(s)) do got[i] = c.a .. c.b end
    assert.are.same({ "1x", "2x", "1y", "2y" }, got)
  end)

  it("repeats the whole grid num_samples times", function()
    local s = grid()
    s:setup(exp_ctx({ a = dsl.grid_search { 1, 2, 3 } }, 3))
    local got = {}
    for i, c in ipairs(drain(s)) do got[i] = c.a end
    assert.are.same({ 1, 2, 3, 1, 2, 3, 1, 2, 3 }, got)
  end)

  local function values(space, opts, key)
    local s = grid(opts)
    s:setup(exp_ctx(space, 1))
    local out = {}
    for i, c in ipairs(drain(s)) do out[i] = c[key] end
    return out
  end

  it("spaces float points evenly, both ends included", function()
    assert.are.same({ 0, 0.5, 1 }, values({ x = dsl.uniform(0, 1) }, nil, "x"))
    assert.are.same({ 2, 3, 4, 5, 6 }, values({ x = dsl.uniform(2, 6) }, { points = 5 }, "x"))
    assert.are.same({ 0.5 }, values({ x = dsl.uniform(0, 1) }, { points = 1 }, "x"))
  end)

  it("spaces log domains in log scale", function()
    local v = values({ x = dsl.loguniform(1e-4, 1e-2) }, nil, "x")
    assert.are.equal(3, #v)
    assert.are.equal(1e-4, v[1])
    assert.is_true(math.abs(v[2] - 1e-3) < 1e-15)
    assert.are.equal(1e-2, v[3])
    assert.are.same({ 1, 10, 100, 999 },
                    values({ n = dsl.lograndint(1, 1000) }, { points = 4 }, "n"))
  end)

  it("rounds and deduplicates integer and quantized domains", function()
    assert.are.same({ 0, 1 }, values({ k = dsl.randint(0, 2) }, { points = 5 }, "k"))
    assert.are.same({ 0, 5, 10 }, values({ k = dsl.qrandint(0, 10, 5) }, { points = 7 }, "k"))
    assert.are.same({ 0, 0.5, 1 }, values({ k = dsl.quniform(0, 1, 0.5) }, { points = 9 }, "k"))
    local v = values({ k = dsl.quniform(0, 1, 0.1) }, { points = 3 }, "k")
    assert.are.same({ 0, 0.5, 1 }, v)
  end)

  it("places randn at mean + sd * {-1, 0, 1}", function()
    assert.are.same({ 3, 5, 7 }, values({ x = dsl.randn(5, 2) }, nil, "x"))
    assert.are.same({ -1, 0, 1 }, values({ x = dsl.qrandn(0, 1.2, 1) }, nil, "x"))
  end)

  it("evaluates sample_from after the grid point is set", function()
    local s = grid()
    s:setup(exp_ctx({ a = dsl.grid_search { 1, 2 },
                      b = dsl.sample_from(function(c) return c.a + 100 end) }, 1))
    local cs = drain(s)
    assert.are.equal(2, #cs)
    assert.are.equal(101, cs[1].b)
    assert.are.equal(102, cs[2].b)
  end)

  it("is deterministic for a seed", function()
    local space = { a = dsl.choice { { u = dsl.uniform(0, 1) }, 2 }, b = dsl.randint(0, 4) }
    local a, b = grid(), grid()
    a:setup(exp_ctx(space, 2, 3))
    b:setup(exp_ctx(space, 2, 3))
    assert.are.same(drain(a), drain(b))
  end)

  it("validates options", function()
    assert.is_truthy(opt_error(grid, { point = 3 }):find("unknown option 'point'", 1, true))
    assert.is_truthy(opt_error(grid, { points = 0 }):find("points", 1, true))
    local s = grid { max_trials = 2 }
    s:setup(exp_ctx({ a = dsl.grid_search { 1, 2, 3 } }, 1))
    assert.are.equal(2, #drain(s))
  end)
end)

describe("scheduler: fifo", function()
  local function trials(...)
    local out = {}
    for i, st in ipairs({ ... }) do
      out[i] = { id = "t" .. i, index = i, config = {}, status = st, iteration = 0 }
    end
    return out
  end

  local function setup(list)
    local s = fifo()
    s:setup({ trials = list, metric = "loss", mode = "min" })
    return s
  end

  it("is named and always continues", function()
    local s = setup(trials("RUNNING"))
    assert.are.equal("fifo", s.name)
    assert.are.equal("continue", s:on_result(s.exp.trials[1], { loss = 1 }))
    -- it keeps no per-trial state: the optional callbacks are left out, the engine skips them
    assert.is_nil(s.on_trial_add)
    assert.is_nil(s.on_trial_complete)
  end)

  it("chooses the first PENDING trial in order", function()
    local list = trials("RUNNING", "PAUSED", "PENDING", "PENDING")
    assert.are.equal(list[3], setup(list):choose_trial_to_run())
  end)

  it("falls back to the first PAUSED trial", function()
    local list = trials("TERMINATED", "RUNNING", "PAUSED", "PAUSED")
    assert.are.equal(list[3], setup(list):choose_trial_to_run())
  end)

  it("returns nil when nothing can run", function()
    assert.is_nil(setup(trials("RUNNING", "TERMINATED", "ERROR")):choose_trial_to_run())
    assert.is_nil(setup({}):choose_trial_to_run())
  end)

  it("sees trials the engine adds later", function()
    local list = trials("RUNNING")
    local s = setup(list)
    assert.is_nil(s:choose_trial_to_run())
    list[2] = { id = "t2", index = 2, config = {}, status = "PENDING", iteration = 0 }
    assert.are.equal(list[2], s:choose_trial_to_run())
  end)

  it("takes no options", function()
    local err = opt_error(fifo, { max_t = 3 })
    assert.is_truthy(err:find("fifo: unknown option 'max_t' (fifo takes none)", 1, true), err)
    assert.has_no.errors(function() fifo({}) end)
  end)
end)

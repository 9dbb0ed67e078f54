-- stats: numpy-compatible mean, median and quantiles; a trial's running mean.
local stats = require "tunelua.stats"

local nan = 0 / 0

describe("stats", function()
  it("mean", function()
    assert.are.equal(2.5, stats.mean { 1, 2, 3, 4 })
    assert.are.equal(1.5, stats.mean({ 1, 2, 3, 4 }, 2))
    assert.is_nil(stats.mean {})
  end)

  it("median as np.median: middle value, or (a + b) / 2", function()
    assert.are.equal(3, stats.median { 5, 1, 3 })
    assert.are.equal(2.5, stats.median { 4, 1, 3, 2 })
    assert.are.equal(3, stats.median({ 4, 1, 3, 2 }, 3)) -- of 4, 1, 3
    assert.is_nil(stats.median {})
    assert.is_true(stats.is_nan(stats.median { 1, nan, 3 }))
    assert.are.equal(2, stats.nanmedian { 1, nan, 3 })
  end)

  it("median by selection: what the middle of a sorted copy gives, input unchanged", function()
    math.randomseed(11)
    for _ = 1, 2000 do
      local n, xs = math.random(1, 60), {}
      local spread = math.random() < 0.5 and 4 or 1e6 -- many ties, or few
      for i = 1, n do xs[i] = math.floor((math.random() - 0.5) * spread) end
      if math.random() < 0.3 then xs[math.random(n)] = nan end
      local before, ref = {}, {}
      for i = 1, n do
        before[i] = xs[i]
        if xs[i] == xs[i] then ref[#ref + 1] = xs[i] end
      end
      table.sort(ref)
      local m = #ref
      local want
      if m % 2 == 1 then
        want = ref[(m + 1) / 2]
      elseif m > 0 then
        want = (ref[m / 2] + ref[m / 2 + 1]) / 2
      end
      assert.are.equal(want, stats.nanmedian(xs))
      if m == n then assert.are.equal(want, stats.median(xs)) end
      for i = 1, n do
        assert.is_true(xs[i] == before[i] or (xs[i] ~= xs[i] and before[i] ~= before[i]))
      end
    end
  end)

  it("quantile as np.quantile's default linear method", function()
    -- np.percentile(range(10), 75) == 6.75; np.quantile([1,2,3,4,5], 0.4) == 2.6
    local ten = {}
    for i = 0, 9 do ten[#ten + 1] = 9 - i end
    assert.are.equal(6.75, stats.percentile(ten, 75))
    assert.is_true(math.abs(stats.quantile({ 5, 4, 3, 2, 1 }, 0.4) - 2.6) < 1e-15)
    assert.are.equal(1, stats.quantile({ 3, 1, 2 }, 0))
    assert.are.equal(3, stats.quantile({ 3, 1, 2 }, 1))
    assert.are.equal(7, stats.quantile({ 7 }, 0.3))
    -- Ray's cutoff on two values with rf = 2: the midpoint
    assert.are.equal(3, stats.percentile({ 2, 4 }, (1 - 1 / 2) * 100))
    -- numpy's lerp from the upper side when t >= 0.5: -1.2 - 0.3 * (1/3)
    local q = ((1 - 1 / 3) * 100) / 100
    assert.are.equal(-1.2 - 0.30000000000000004 * (1 - q), stats.quantile({ -1.5, -1.2 }, q))
    assert.is_nil(stats.quantile({}, 0.5))
  end)

  it("does not change its input", function()
    local xs = { 3, 1, 2 }
    stats.quantile(xs, 0.5)
    assert.are.same({ 3, 1, 2 }, xs)
  end)

  it("NaN: quantile propagates it, nanquantile leaves it out", function()
    assert.is_true(stats.is_nan(stats.quantile({ 1, nan, 3 }, 0.5)))
    assert.are.equal(2, stats.nanquantile({ 1, nan, 3 }, 0.5))
    assert.are.equal(3, stats.nanpercentile({ nan, 1, 3 }, 100))
    assert.is_nil(stats.nanquantile({ nan, nan }, 0.5))
  end)

  it("rejects q outside [0, 1]", function()
    assert.has_error(function() stats.quantile({ 1 }, 1.5) end)
    assert.has_error(function() stats.quantile({ 1 }, nan) end)
  end)

  describe("curve", function()
    it("running mean over a time window, both ends included", function()
      local c = stats.curve()
      assert.is_nil(c:last_t())
      assert.is_nil(c:best(1))
      for t, v in ipairs { 5, 3, 4, 1, 2 } do c:add(t * 10, v) end
      assert.are.equal(5, c.n)
      assert.are.equal(50, c:last_t())
      assert.are.equal(3, c:mean_between(10, 50))
      assert.are.equal((3 + 4 + 1) / 3, c:mean_between(20, 40))
      assert.are.equal((3 + 4 + 1) / 3, c:mean_between(15, 45))
      assert.are.equal(4, c:mean_between(30, 30))
      assert.is_nil(c:mean_between(31, 39))
      assert.is_nil(c:mean_between(60, 90))
      assert.are.equal(5, c:best(1))
      assert.are.equal(1, c:best(-1))
    end)

    it("a NaN makes only the windows that hold it NaN", function()
      local c = stats.curve()
      c:add(1, 1)
      c:add(2, nan)
      c:add(3, 3)
      c:add(4, 5)
      assert.is_true(stats.is_nan(c:mean_between(1, 3)))
      assert.are.equal(4, c:mean_between(3, 4))
      assert.are.equal(5, c:best(1))
      local only = stats.curve()
      only:add(1, nan)
      assert.is_true(stats.is_nan(only:best(1)))
    end)
  end)
end)

describe("stats.curves", function()
  it("keeps curves by key in the order of first points, and their running means", function()
    local cs = stats.curves()
    local a, b, c = {}, {}, {}
    for t = 1, 4 do cs:add(a, t, t) end
    cs:add(b, 1, 10)
    cs:add(b, 2, 20)
    cs:add(c, 5, 1)
    assert.are.same({ a, b, c }, cs.order)
    assert.are.equal(4, cs[a].n)
    local xs, n = cs:means(c, 1, 2)
    assert.are.equal(2, n)
    assert.are.same({ 1.5, 15 }, { xs[1], xs[2] })
    local _, m = cs:means(a, 2, 4) -- b has not reached 4; c has no point in [2, 4]
    assert.are.equal(0, m)
  end)

  -- cs:median against the median of cs:means, exactly (NaN as NaN), after every point.
  local function same_median(cs, skip, lo, hi, msg)
    local xs, wn = cs:means(skip, lo, hi)
    local want = stats.median(xs, wn)
    local got, gn = cs:median(skip, lo, hi)
    assert.are.equal(wn, gn, msg)
    if want ~= want then
      assert.is_true(got ~= got, msg .. ": want NaN, got " .. tostring(got))
    else
      assert.are.equal(want, got, msg)
    end
  end

  it("median: what the median of the means gives, kept windows or not", function()
    local rng = require("tunelua.rng").new(5)
    for _, times in ipairs { "steps", "repeats", "continuous" } do
      local cs, keys, last = stats.curves(), {}, {}
      for i = 1, 40 do keys[i] = { i } end
      for step = 1, 4000 do
        local key = keys[rng:int(1, 40)]
        local t = last[key] or 0
        if times == "steps" then
          t = t + 1
        elseif times == "repeats" then -- equal times happen: a time_attr may stand still
          t = t + rng:int(0, 1)
        else
          t = t + rng:random()
        end
        last[key] = t
        local v = rng:random() < 0.02 and 0 / 0 or rng:int(1, 6) -- ties are common
        cs:add(key, t, v)
        -- ask the windows a median stopping rule asks (its own time, two graces), and others
        local lo = rng:random() < 0.8 and 2 or 0
        local hi = rng:random() < 0.7 and t or rng:int(0, 12)
        same_median(cs, key, lo, hi, times .. " step " .. step .. " (" .. lo .. ", " .. hi .. ")")
        same_median(cs, keys[rng:int(1, 40)], lo, hi, times .. " step " .. step .. " other")
      end
      if times ~= "continuous" then
        assert.is_true(#cs.windows > 0, times .. ": no window was kept")
      end
    end
  end)

  it("median: keeps at most 64 windows and forgets single asks", function()
    local cs, a, b = stats.curves(), {}, {}
    for t = 1, 200 do
      cs:add(a, t, t)
      cs:add(b, t, 2 * t)
    end
    for hi = 1, 100 do
      cs:median(a, 0, hi)
      assert.are.equal(math.min(hi - 1, 64), #cs.windows) -- asked once: not kept
      assert.are.equal(hi + 1, cs:median(a, 0, hi)) -- b: the mean of 2, 4, ..., 2 hi
      assert.are.equal(math.min(hi, 64), #cs.windows)
      assert.are.equal(hi + 1, cs:median(a, 0, hi)) -- b: the mean of 2, 4, ..., 2 hi
    end
    for hi = 0.5, 5000 do cs:median(a, 0, hi) end -- each once: the record of asks is bounded
    assert.is_true(cs.nasked <= 4096)
  end)
end)

-- rungs: successive-halving milestones, recorded values and Ray's cutoff.
local rungs = require "tunelua.rungs"

describe("rungs", function()
  it("milestones: grace * eta^(k + bracket) up to max_t, as Ray's _Bracket", function()
    assert.are.same({ 1, 3, 9, 27, 81 }, rungs.milestones(1, 81, 3))
    assert.are.same({ 3, 9, 27, 81 }, rungs.milestones(1, 81, 3, 1))
    assert.are.same({ 1, 4, 16, 64 }, rungs.milestones(1, 100, 4))
    assert.are.same({ 10 }, rungs.milestones(10, 10, 3))
    assert.are.same({}, rungs.milestones(1, 10, 2, 5))
    -- log(243)/log(3) is 4.999...: the max_t rung is kept anyway
    assert.are.same({ 1, 3, 9, 27, 81, 243 }, rungs.milestones(1, 243, 3))
    assert.are.same({ 1, 10, 100, 1000 }, rungs.milestones(1, 1000, 10))
  end)

  it("sign and time getter", function()
    assert.are.equal(1, rungs.sign("max"))
    assert.are.equal(-1, rungs.sign("min"))
    assert.has_error(function() rungs.sign("up") end)
    local get = rungs.time_getter("training_iteration")
    assert.are.equal(3, get { training_iteration = 3 })
    assert.is_nil(get { training_iteration = "3" })
    assert.is_nil(get {})
  end)

  it("Ray's _Bracket docstring example (max)", function()
    local L = rungs.new(rungs.milestones(1, 10, 2), 2, "max")
    assert.are.same({ 1, 2, 4, 8 }, L.t)
    assert.are.equal(1, L:rung_at(1))
    assert.are.equal(2, L:rung_at(3))
    assert.are.equal(0, L:rung_at(0.5))
    assert.is_nil(L:cutoff(1))
    L:record(1, "t1", 2)
    L:record(1, "t2", 4)
    assert.are.equal(3, L:cutoff(1))
    assert.is_true(L:worse(1, L:cutoff(1)))      -- trial3 with 1 would stop
    L:record(1, "t3", 1)
    assert.are.equal(2, L:cutoff(1))
    assert.are.equal(3, L:count(1))
    assert.are.equal(4, L:get(1, "t2"))
    assert.is_nil(L:get(2, "t2"))
  end)

  it("min mode: cutoff in metric units, lower is better", function()
    local L = rungs.new({ 1 }, 4, "min")
    for i, v in ipairs { 0.5, 0.1, 0.9, 0.3, 0.7 } do L:record(1, i, v) end
    -- scores -v; 75th percentile of them is -0.3; in metric units 0.3
    assert.are.equal(0.3, L:cutoff(1))
    assert.is_true(L:worse(0.31, 0.3))
    assert.is_false(L:worse(0.3, 0.3))
    assert.is_false(L:worse(0.2, 0.3))
  end)

  it("a key keeps its first value; nil is not recorded; NaN never counts", function()
    local L = rungs.new({ 1 }, 3, "max")
    L:record(1, "a", 1)
    L:record(1, "a", 5)
    L:record(1, "b", nil)
    L:record(1, "c", 0 / 0)
    assert.are.equal(1, L:get(1, "a"))
    assert.is_nil(L:get(1, "b"))
    assert.are.equal(2, L:count(1))
    assert.are.equal(1, L:cutoff(1))
  end)

  it("top 1/eta, best first, ties in record order", function()
    local L = rungs.new({ 1, 3 }, 3, "min")
    for i, v in ipairs { 5, 2, 8, 2, 1, 9, 4 } do L:record(1, "t" .. i, v) end
    assert.are.same({ "t5", "t2" }, L:top(1))          -- floor(7 / 3) = 2
    assert.are.same({ "t5", "t2", "t4" }, L:top(1, 3))
    assert.is_true(L:is_top(1, "t2"))
    assert.is_false(L:is_top(1, "t4"))
    assert.are.same({}, L:top(2))
  end)

  it("rejects eta <= 1 and unknown modes", function()
    assert.has_error(function() rungs.new({ 1 }, 1, "max") end)
    assert.has_error(function() rungs.new({ 1 }, 0 / 0, "max") end)
    assert.has_error(function() rungs.new({ 1 }, 2, "best") end)
  end)
end)

describe("rungs: stopping rule, promotions and brackets", function()
  it("enter records and says whether the value is below the cutoff of the earlier ones", function()
    local L = rungs.new({ 1, 3 }, 2, "min")
    assert.is_false(L:enter(1, "a", 1))
    assert.is_true(L:enter(1, "b", 5))
    assert.is_false(L:enter(1, "c", 0.5))
    L:record(0, "d", 1) -- below the first milestone: ignored
    assert.are.equal(3, L:count(1))
  end)

  it("candidate skips promoted keys and those ok refuses", function()
    local L = rungs.new({ 1, 3 }, 2, "max")
    for i, v in ipairs { 4, 9, 7, 1 } do L:record(1, i, v) end
    local function all() return true end
    assert.are.equal(2, L:candidate(1, nil, all))
    L:promote(1, 2)
    assert.are.equal(3, L:candidate(1, nil, all))
    assert.is_nil(L:candidate(1, 1, all))
    local function only(k, rung, want) return rung == 1 and k == want end
    assert.are.equal(1, L:candidate(1, 3, only, 1))
  end)

  it("brackets and the softmax pick", function()
    local ls = rungs.brackets(1, 9, 3, 2, "min")
    assert.are.same({ 1, 3, 9 }, ls[1].t)
    assert.are.same({ 3, 9 }, ls[2].t)
    assert.are.equal(ls[1], rungs.pick({ ls[1] }, nil, "unused"))
    local rng = require("tunelua.rng").new(1)
    local a = rungs.pick(ls, rng, "bracket:1")
    assert.are.equal(a, rungs.pick(ls, rng, "bracket:1")) -- the label's stream, every time
  end)

  it("candidate: the first of top(n) not promoted that ok takes, after any promotions", function()
    local rng = require("tunelua.rng").new(3)
    for _, mode in ipairs { "min", "max" } do
      local L = rungs.new({ 1 }, 3, mode)
      local promoted, refused = {}, {}
      local function ok(key) return not refused[key] end
      for i = 1, 600 do
        local v = rng:random() < 0.05 and 0 / 0 or math.floor(rng:random() * 30) / 4
        L:record(1, i, v)
        if rng:random() < 0.1 then refused[i] = true end
        local n = rng:random() < 0.5 and math.floor(rng:random() * i / 2) or nil
        local want
        for _, key in ipairs(L:top(1, n)) do
          if not promoted[key] and ok(key) then
            want = key
            break
          end
        end
        -- not asked for the first 200 records: the open list is made after promotions
        if i > 200 then assert.are.equal(want, L:candidate(1, n, ok), mode .. " record " .. i) end
        if want and rng:random() < 0.6 then
          L:promote(1, want)
          promoted[want] = true
        end
        if rng:random() < 0.05 then -- a key promoted before it is recorded, or a NaN one
          local key = rng:random() < 0.5 and i or 1000 + i
          L:promote(1, key)
          promoted[key] = true
        end
      end
    end
  end)

  it("the kept order gives what a sort of every record gives (ties, NaNs, both modes)", function()
    local stats = require "tunelua.stats"
    local rng = require("tunelua.rng").new(7)
    for _, mode in ipairs { "min", "max" } do
      local L = rungs.new({ 1 }, 3, mode)
      local values, scores, sign = {}, {}, rungs.sign(mode)
      for i = 1, 400 do
        -- few distinct values, so that ties are common, and an occasional NaN
        local v = rng:random() < 0.05 and 0 / 0 or math.floor(rng:random() * 40) / 8
        values[i], scores[i] = v, sign * v
        L:record(1, "t" .. i, v)
        -- Ray's cutoff: the quantile of the scores (sign * value), back in metric units
        assert.are.equal(sign * stats.nanquantile(scores, L.q), L:cutoff(1))
        if i % 37 == 0 then
          -- the reference top: best first for the mode, ties in record order, NaNs out
          local idx = {}
          for j = 1, i do if values[j] == values[j] then idx[#idx + 1] = j end end
          table.sort(idx, function(a, b)
            if values[a] ~= values[b] then return sign * values[a] > sign * values[b] end
            return a < b
          end)
          local want = {}
          for j = 1, math.min(math.floor(i / 3), #idx) do want[j] = "t" .. idx[j] end
          assert.are.same(want, L:top(1))
          assert.are.equal(want[1], L:candidate(1, nil, function() return true end))
          if want[1] then assert.is_true(L:is_top(1, want[1])) end
        end
      end
    end
  end)
end)

local population = require "tunelua.population"
local trials = require "tunelua.trials"

-- Trial views with the given statuses (index = position).
local function views(...)
  local out = {}
  for i, s in ipairs { ... } do out[i] = { index = i, status = s } end
  return out
end

local function indices(list)
  local out = {}
  for i, t in ipairs(list) do out[i] = t.index end
  return out
end

describe("tunelua.population", function()
  it("knows finished and waiting trials", function()
    local t = views("RUNNING", "PENDING", "PAUSED", "TERMINATED", "ERROR")
    assert.are.same({ false, false, false, true, true },
      { population.finished(t[1]), population.finished(t[2]), population.finished(t[3]),
        population.finished(t[4]), population.finished(t[5]) })
    assert.is_true(population.waiting(t[2]) and population.waiting(t[3]))
    assert.is_false(population.waiting(t[1]) or population.waiting(t[4]))
    assert.is_true(population.others_waiting(t, t[1]))
    local two = views("RUNNING", "PAUSED")
    assert.is_false(population.others_waiting(two, two[2]))
    local one = views("PENDING", "TERMINATED")
    assert.is_false(population.others_waiting(one, one[1]))
    assert.is_true(population.others_waiting(one, one[2]))
  end)

  it("takes Ray's quantiles: ceil(n · fraction), at most n / 2, worst first", function()
    local t = views("RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "TERMINATED")
    local scores = { 5, 1, 7, 3, nil, 0 }
    local score = function(v) return scores[v.index] end
    local lower, upper, ranked = population.quantiles(t, 0.25, score)
    assert.are.same({ 2, 4, 1, 3 }, indices(ranked))  -- 5 has no score, 6 is finished
    assert.are.same({ 2 }, indices(lower))
    assert.are.same({ 3 }, indices(upper))
    lower, upper = population.quantiles(t, 0.5, score)
    assert.are.same({ 2, 4 }, indices(lower))
    assert.are.same({ 1, 3 }, indices(upper))
    lower, upper = population.quantiles(t, 0, score)
    assert.are.same({}, lower)
    assert.are.same({}, upper)
    lower, upper = population.quantiles({ t[1] }, 0.5, score)
    assert.are.same({}, lower)
    assert.are.same({}, upper)
  end)

  it("breaks score ties by trial order", function()
    local t = views("RUNNING", "RUNNING", "RUNNING", "RUNNING")
    local lower, upper = population.quantiles(t, 0.5, function() return 1 end)
    assert.are.same({ 1, 2 }, indices(lower))
    assert.are.same({ 3, 4 }, indices(upper))
  end)

  it("ranks a NaN score worst, before any number", function()
    local t = views("RUNNING", "RUNNING", "RUNNING", "RUNNING")
    local scores = { 2, 0 / 0, -1, 0 / 0 }
    local _, _, ranked = population.quantiles(t, 0.25, function(v) return scores[v.index] end)
    assert.are.same({ 2, 4, 3, 1 }, indices(ranked))
  end)

  it("on a list kept with set_status, answers as a scan of it does", function()
    local statuses = { "PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR" }
    math.randomseed(11)
    local kept, scores, keys = {}, {}, {}
    local score = function(v) return scores[v.index] end
    local key = function(v) return keys[v.index] and keys[v.index] % 3, keys[v.index] end
    local function plain() -- a copy trials.lua has never seen: scanned each time
      local out = {}
      for i, v in ipairs(kept) do out[i] = { index = i, status = v.status } end
      return out
    end
    for step = 1, 1500 do
      if math.random() < 0.1 or #kept == 0 then
        kept[#kept + 1] = { index = #kept + 1, status = "PENDING" }
      else
        trials.set_status(kept, kept[math.random(#kept)], statuses[math.random(#statuses)])
      end
      local i = math.random(#kept)
      scores[i] = math.random() < 0.8 and math.random(5) or nil
      keys[i] = math.random() < 0.8 and math.random(4) or nil
      local p, except = plain(), math.random(#kept)
      local lk, uk, rk = population.quantiles(kept, 0.25, score)
      local lp, up, rp = population.quantiles(p, 0.25, score)
      local msg = "step " .. step
      assert.are.same({ indices(lp), indices(up), indices(rp) },
        { indices(lk), indices(uk), indices(rk) }, msg)
      local fk, fp = population.first_waiting(kept, key), population.first_waiting(p, key)
      assert.are.equal(fp and fp.index, fk and fk.index, msg)
      assert.are.equal(population.others_waiting(p, p[except]),
        population.others_waiting(kept, kept[except]), msg)
      local low = function(v, limit) return (keys[v.index] or 0) < limit end
      assert.are.equal(population.all_unfinished(p, low, 4),
        population.all_unfinished(kept, low, 4), msg)
    end
  end)

  it("orders a barrier's trials top first, then the middle, then the bottom", function()
    local t = views("RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING")
    local ranked = { t[2], t[4], t[1], t[5], t[3] }
    local order = population.top_down({ t[2] }, { t[3] }, ranked)
    assert.are.same({ 3, 4, 1, 5, 2 }, indices(order))
  end)

  it("picks the waiting trial with the smallest key, first among equals", function()
    local t = views("PENDING", "RUNNING", "PAUSED", "PAUSED", "TERMINATED")
    local keys = { { 3, 0 }, { 0, 0 }, { 2, 1 }, { 2, 0 }, { 0, 0 } }
    local function key(v) return keys[v.index][1], keys[v.index][2] end
    assert.are.equal(t[4], population.first_waiting(t, key))
    keys[4] = { 2, 1 }
    assert.are.equal(t[3], population.first_waiting(t, key))
    assert.are.equal(t[1], population.first_waiting(t, function(v)
      if v.index == 1 then return 9, 0 end
    end))
    assert.is_nil(population.first_waiting(t, function() end))
  end)
end)

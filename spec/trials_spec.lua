-- tunelua.trials: trial order, searcher exhaustion and unseen final results.
local trials = require "tunelua.trials"

-- A metatable for views whose status reads are counted, and the count so far.
local function counted()
  local n, back = 0, {}
  local mt = {
    __index = function(v, k) if k == "status" then n = n + 1 return back[v] end end,
    __newindex = function(v, k, x) if k == "status" then back[v] = x else rawset(v, k, x) end end,
  }
  return mt, function() return n end
end

describe("tunelua.trials", function()
  local function views(...)
    local out = {}
    for i, s in ipairs { ... } do out[i] = { id = i, status = s } end
    return out
  end

  it("first: by status, with an optional test and its arguments", function()
    local l = views("RUNNING", "PAUSED", "PENDING", "PAUSED")
    assert.are.equal(l[2], trials.first(l, "PAUSED"))
    assert.are.equal(l[4], trials.first(l, "PAUSED", function(v, skip) return v ~= skip end, l[2]))
    assert.is_nil(trials.first(l, "TERMINATED"))
  end)

  it("fifo: the first PENDING, else the first PAUSED", function()
    assert.are.equal(3, trials.fifo(views("PAUSED", "RUNNING", "PENDING")).id)
    assert.are.equal(2, trials.fifo(views("RUNNING", "PAUSED", "PAUSED")).id)
    assert.is_nil(trials.fifo(views("RUNNING")))
  end)

  it("first on a list kept with set_status: what a full scan gives, after any change", function()
    local statuses = { "PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR" }
    local function scan(l, s, ok)
      for _, v in ipairs(l) do
        if v.status == s and (not ok or ok(v)) then return v end
      end
    end
    local odd = function(v) return v.index % 2 == 1 end
    math.randomseed(7)
    local l = {}
    for step = 1, 3000 do
      local r = math.random()
      if r < 0.2 or #l == 0 then -- the runner appends a PENDING view
        l[#l + 1] = { index = #l + 1, status = "PENDING" }
      elseif r < 0.22 then -- a swap empties and rebuilds the list
        local keep = {}
        for i = 1, math.random(#l) do keep[i] = l[i] end
        for i = #l, 1, -1 do l[i] = nil end
        trials.reset(l)
        for i, v in ipairs(keep) do l[i] = v end
      else
        trials.set_status(l, l[math.random(#l)], statuses[math.random(#statuses)])
      end
      local s = statuses[math.random(#statuses)]
      assert.are.equal(scan(l, s), trials.first(l, s), "step " .. step .. " " .. s)
      assert.are.equal(scan(l, s, odd), trials.first(l, s, odd), "step " .. step .. " " .. s)
      if math.random() < 0.3 then -- views appended meanwhile are counted late, at their status
        local want, n = {}, 0
        for _, v in ipairs(l) do
          if v.status == s then want[v], n = true, n + 1 end
        end
        assert.are.equal(n, trials.count(l, s), "step " .. step .. " count " .. s)
        if s ~= "TERMINATED" and s ~= "ERROR" then
          assert.are.same(want, trials.members(l, s), "step " .. step .. " members " .. s)
        end
      end
    end
  end)

  it("count and members scan a list that set_status never kept", function()
    local l = views("PAUSED", "RUNNING", "PAUSED", "ERROR")
    assert.are.equal(2, trials.count(l, "PAUSED"))
    assert.are.same({ [l[1]] = true, [l[3]] = true }, trials.members(l, "PAUSED"))
    l[1].status = "RUNNING" -- a plain list changes as it likes
    assert.are.equal(1, trials.count(l, "PAUSED"))
    assert.are.same({ [l[1]] = true, [l[2]] = true }, trials.members(l, "RUNNING"))
    assert.has_error(function() trials.members(l, "ERROR") end,
      "trials.members: not a live status: ERROR")
  end)

  it("a kept list counts by its set, not by walking the views", function()
    local mt, reads = counted()
    local l, n = {}, 2000
    for i = 1, n do -- every trial pauses once at a rung and stays paused
      local v = setmetatable({ index = i }, mt)
      v.status = "PENDING"
      l[i] = v
      trials.set_status(l, v, "RUNNING")
      assert.are.equal(1, trials.count(l, "RUNNING"))
      trials.set_status(l, v, "PAUSED")
      assert.are.equal(i, trials.count(l, "PAUSED"))
      assert.is_nil(next(trials.members(l, "PENDING")))
    end
    -- set_status reads the old status (2 a trial), the count the new view's once; a scan
    -- for each count would read 4,002,000
    assert.is_true(reads() < 4 * n, reads() .. " status reads for " .. n .. " trials")
  end)

  it("first on a kept list does not walk past the same views again", function()
    local mt, reads = counted()
    local l, n = {}, 2000
    for i = 1, n do -- FIFO's pattern: a new PENDING trial, found and started, then it ends
      local v = setmetatable({ index = i }, mt)
      v.status = "PENDING"
      l[i] = v
      local t = trials.first(l, "PENDING")
      assert.are.equal(v, t)
      trials.set_status(l, t, "RUNNING")
      assert.is_nil(trials.first(l, "PAUSED"))
      trials.set_status(l, t, "TERMINATED")
    end
    -- a full scan each time reads 4,002,000; set_status reads the old status (2 a trial)
    assert.is_true(reads() < 6 * n, reads() .. " status reads for " .. n .. " trials")
  end)

  it("exhausted: num_samples x grid points, or the engine's word", function()
    local s = { exp = { num_samples = 2, space = {}, trials = views("RUNNING") } }
    assert.is_false(trials.exhausted(s))
    s.exp.trials[2] = { status = "PENDING" }
    assert.is_true(trials.exhausted(s))
    local t = { exp = { trials = {} } }
    assert.is_false(trials.exhausted(t))
    trials.on_searcher_exhausted(t)
    assert.is_true(trials.exhausted(t))
  end)

  it("unseen and point", function()
    local v = {}
    assert.is_false(trials.unseen({ [v] = 3 }, v, { training_iteration = 3 }))
    assert.is_true(trials.unseen({ [v] = 3 }, v, { training_iteration = 4 }))
    assert.is_false(trials.unseen({}, v, nil))
    assert.are.same({ 2, 0.5 }, { trials.point({ t = 2, loss = 0.5 }, "t", "loss") })
    assert.is_nil(trials.point({ t = "2", loss = 0.5 }, "t", "loss"))
    assert.is_nil(trials.point({ t = 2 }, "t", "loss"))
  end)
end)

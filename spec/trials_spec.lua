-- tunelua.trials: trial order, searcher exhaustion and unseen final results.
local trials = require "tunelua.trials"

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

-- lua/tunelua/budget.lua on its own: parsing, the tracker, and the time earlier runs used.
local budget = require "tunelua.budget"

describe("budget", function()
  it("parses results and times, and describes them", function()
    assert.are.same({ results = 500 }, budget.parse("500"))
    assert.are.same({ time = 120 }, budget.parse("2m"))
    assert.is_nil(budget.parse("1.5"))
    assert.are.equal("500 results", budget.describe({ results = 500 }))
    assert.are.equal("90 s", budget.describe({ time = 90 }))
  end)

  it("a results budget is spent at its Nth result", function()
    local t = budget.tracker({ results = 3 }, function() return 0 end)
    assert.is_false(t:result())
    assert.is_false(t:result())
    assert.is_true(t:result())
    local fresh = budget.tracker({ results = 3 }, function() return 0 end)
    assert.is_false(fresh:used(1e9)) -- a results budget ignores time
  end)

  it("a time budget counts the seconds of earlier runs", function()
    local now = 1000
    local t = budget.tracker({ time = 60 }, function() return now end)
    assert.is_false(t:used(45))
    now = now + 10
    assert.is_false(t:result())
    now = now + 6
    assert.is_true(t:result())
    local t2 = budget.tracker({ time = 60 }, function() return now end)
    assert.is_true(t2:used(61))
    assert.is_true(t2.spent)
    -- a virtual clock that went on by itself: only checked
    local t3 = budget.tracker({ time = 60 }, function() return now end)
    assert.is_false(t3:used(nil))
    now = now + 60
    assert.is_true(t3:used(nil))
  end)
end)

-- lua/tunelua/resources.lua: checking per-trial requests; and fifo's use of exp.fits.
local resources = require "tunelua.resources"

describe("tunelua.resources", function()
  it("parses sizes in powers of 1024", function()
    assert.are.equal(4 * 2 ^ 30, resources.parse_size("4G"))
    assert.are.equal(4 * 2 ^ 30, resources.parse_size("4GiB"))
    assert.are.equal(512 * 2 ^ 20, resources.parse_size("512 MB"))
    assert.are.equal(1.5 * 2 ^ 40, resources.parse_size("1.5t"))
    assert.are.equal(800, resources.parse_size("800"))
    assert.are.equal(1000, resources.parse_size(1000))
    assert.is_nil(resources.parse_size("lots"))
    assert.is_nil(resources.parse_size(-1))
    assert.is_nil(resources.parse_size(true))
  end)

  it("fills defaults and sorts custom amounts", function()
    local rq = assert(resources.check({ mem = "1K", custom = { b = 2, a = 1 } }))
    assert.are.same({ cpu = 1, gpu = 0, mem = 1024, custom = { "a", 1, "b", 2 } }, rq)
  end)

  it("accepts fractions of a card below 1 and whole cards above", function()
    assert.are.equal(0.25, resources.check({ gpu = 0.25 }).gpu)
    assert.are.equal(2, resources.check({ gpu = 2 }).gpu)
    local rq, err = resources.check({ gpu = 1.5 })
    assert.is_nil(rq)
    assert.is_truthy(err:find("trainer.resources.gpu must be a whole number", 1, true), err)
  end)

  it("names the field of a bad request", function()
    local cases = {
      { { cpu = 0 }, "trainer.resources.cpu must be a number > 0" },
      { { cpu = 0 / 0 }, "trainer.resources.cpu must be a number > 0" },
      { { gpu = -1 }, "trainer.resources.gpu must be a number >= 0" },
      { { mem = "much" }, "trainer.resources.mem must be a size" },
      { { disk = 1 }, "unknown field 'trainer.resources.disk'" },
      { { custom = { ["a b"] = 1 } }, "trainer.resources.custom has an invalid name" },
      { { custom = { lic = -1 } }, "trainer.resources.custom.lic must be a number >= 0" },
      { 3, "trainer.resources must be a table" },
    }
    for _, c in ipairs(cases) do
      local rq, err = resources.check(c[1])
      assert.is_nil(rq)
      assert.is_truthy(err:find(c[2], 1, true), err)
    end
  end)

  it("checks custom capacities", function()
    assert.are.same({ "a=1", "b=2.5" }, resources.capacities { b = 2.5, a = 1 })
    assert.are.same({}, resources.capacities(nil))
    assert.is_nil(resources.capacities { a = -1 })
    assert.is_nil(resources.capacities(5))
  end)
end)

describe("fifo and exp.fits", function()
  local function trial(id, status) return { id = id, status = status } end

  it("skips trials that do not fit now, PENDING before PAUSED", function()
    local fifo = require("schedulers.fifo")({})
    local trials = { trial("a", "PENDING"), trial("b", "PAUSED"), trial("c", "PENDING") }
    local room = { a = false, b = true, c = true }
    fifo:setup { trials = trials, fits = function(t) return room[t.id] end }
    assert.are.equal(trials[3], fifo:choose_trial_to_run())
    room.c = false
    assert.are.equal(trials[2], fifo:choose_trial_to_run())
    room.b = false
    assert.is_nil(fifo:choose_trial_to_run())
  end)

  it("chooses as before without fits", function()
    local fifo = require("schedulers.fifo")({})
    local trials = { trial("a", "PAUSED"), trial("b", "PENDING") }
    fifo:setup { trials = trials }
    assert.are.equal(trials[2], fifo:choose_trial_to_run())
  end)
end)

local options = require "tunelua.options"

describe("tunelua.options", function()
  local schema = { max_t = { 100, "number>0" }, mode = { nil, "mode" },
    n = { 1, "int>=1" }, f = { 0.25, "fraction" },
    even = { 2, function(v) return type(v) == "number" and v % 2 == 0, "an even number" end } }

  local function make(opts) return options.check("algo", opts, schema) end

  it("fills defaults and keeps given values", function()
    local o = make { max_t = 9, mode = "min" }
    assert.are.same({ max_t = 9, mode = "min", n = 1, f = 0.25, even = 2 }, o)
    assert.is_nil(make({}).mode)
    assert.are.equal(100, make(nil).max_t)
  end)

  it("names the option, what it must be and what it got, at the caller's line", function()
    local ok, err = pcall(make, { max_t = -1 })
    assert.is_false(ok)
    assert.truthy(err:find("algo: max_t must be a finite number > 0, got -1", 1, true), err)
    assert.truthy(err:find("options_spec.lua:%d+:"), err)
    for opts, msg in pairs {
      [{ n = 1.5 }] = "n must be an integer >= 1",
      [{ f = 1 }] = "f must be a number in (0, 1)",
      [{ mode = "up" }] = 'mode must be "max" or "min"',
      [{ even = 3 }] = "even must be an even number, got 3",
      [{ max_t = 0 / 0 }] = "max_t must be a finite number > 0",
    } do
      local ok2, err2 = pcall(make, opts)
      assert.is_false(ok2)
      assert.truthy(err2:find(msg, 1, true), err2)
    end
  end)

  it("refuses unknown options, listing the accepted ones", function()
    local ok, err = pcall(make, { max_tt = 3 })
    assert.is_false(ok)
    assert.truthy(err:find("unknown option 'max_tt' (accepted: even, f, max_t, mode, n)", 1, true),
      err)
    local _, err3 = pcall(make, 5)
    err = err3
    assert.truthy(err:find("options must be a table, got number", 1, true), err)
  end)
end)

describe("tunelua.options: wording and metric_mode", function()
  it("a third field words a named kind; >=0 takes math.huge", function()
    local ok, err = pcall(options.check, "algo", { t = "" }, { t = { "x", "string", "a name" } })
    assert.is_false(ok)
    assert.truthy(err:find("algo: t must be a name, got ", 1, true), err)
    assert.are.equal(math.huge, options.check("a", { g = math.huge }, { g = { 0, ">=0" } }).g)
    assert.is_false(pcall(options.check, "a", { g = 0 / 0 }, { g = { 0, ">=0" } }))
  end)

  it("metric_mode: the options', else the experiment's, else an error", function()
    assert.are.same({ "acc", "max" },
      { options.metric_mode("algo", { metric = "acc", mode = "max" }, { metric = "l" }) })
    local exp = { metric = "l", mode = "min" }
    assert.are.same({ "l", "min" }, { options.metric_mode("algo", {}, exp) })
    assert.has_error(function() options.metric_mode("algo", {}, {}) end,
      "algo: needs a metric and a mode (got metric nil, mode nil): set them in the experiment " ..
      "or in algo { metric = ..., mode = ... }")
  end)
end)

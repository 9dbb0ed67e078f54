-- The explore rules themselves are specified in spec/schedulers/pbt_spec.lua (through
-- pbt.explore, the same function); this spec covers the module's own surface.
local explore = require "tunelua.explore"
local dsl = require "tunelua.dsl"
local rng = require "tunelua.rng"

describe("tunelua.explore", function()
  it("tells the kinds of hyperparam_mutations entries apart", function()
    assert.are.equal("function", explore.kind(function() end))
    assert.are.equal("domain", explore.kind(dsl.uniform(0, 1)))
    assert.are.equal("list", explore.kind { 1, 2, 3 })
    assert.are.equal("nested", explore.kind { lr = { 1, 2 } })
    assert.are.equal("nested", explore.kind { dsl.uniform(0, 1), function() end })
    assert.is_nil(explore.kind {})
    assert.is_nil(explore.kind(0.1))
  end)

  it("checks a mutations table, naming the offending key", function()
    assert.is_nil(explore.check { lr = dsl.loguniform(1e-4, 1e-1), b = { 8, 16 },
      o = { m = function() end } })
    for muts, msg in pairs {
      [{ lr = 3 }] = "hyperparam_mutations.lr must be a list of values, a domain",
      [{ o = { lr = {} } }] = "hyperparam_mutations.o.lr must be a list of values, a domain "
        .. "(tune.uniform ...), a function or a table of nested mutations, got an empty table",
      [{ lr = dsl.grid_search { 1, 2 } }] = "hyperparam_mutations.lr: grid_search cannot be used",
      [{ lr = dsl.loguniform(0, 1) }] = "hyperparam_mutations.lr: ",
      [{ 1, 2 }] = "hyperparam_mutations must be a table of key = list | domain | function",
    } do
      local err = explore.check(muts)
      assert.is_truthy(err and err:find(msg, 1, true), tostring(err))
    end
    assert.is_truthy(explore.check(dsl.uniform(0, 1)):find("got table", 1, true))
    assert.is_truthy(explore.check(5):find("got number", 1, true))
  end)

  it("fills only the keys a config lacks, nested tables included", function()
    local r = rng.new(1)
    local c = { lr = 0.3, o = {} }
    explore.fill(c, { lr = dsl.uniform(0, 1), b = { 8, 16 }, o = { m = function() return 0.9 end },
      p = { q = dsl.randint(1, 3) } }, r)
    assert.are.equal(0.3, c.lr)
    assert.is_true(c.b == 8 or c.b == 16)
    assert.are.equal(0.9, c.o.m)
    assert.is_true(c.p.q == 1 or c.p.q == 2)
    local s = { o = "flat" }
    explore.fill(s, { o = { m = { 1 } } }, r)   -- not a table: left alone
    assert.are.equal("flat", s.o)
  end)

  it("runs custom_explore_fn and insists on a config back", function()
    local c = explore.custom(function(cfg, g) cfg.g = g; return cfg end, {}, "rng")
    assert.are.equal("rng", c.g)
    assert.has_error(function() explore.custom(function() return 1 end, {}, nil, "pb2: ") end,
      "pb2: custom_explore_fn must return the new config table, got number")
  end)

  it("names a nested mutation whose config is not a table", function()
    assert.has_error(function()
      explore.explore({ o = 1 }, { o = { m = { 1, 2 } } }, 0, { 1.2 }, nil, rng.new(1))
    end, "config.o is a number, but hyperparam_mutations nests a table there")
  end)
end)

local tables = require "tunelua.tables"
local dsl = require "tunelua.dsl"

describe("tunelua.tables", function()
  it("deep-copies plain data, keeping metatables and sharing domains", function()
    local mt = {}
    local d = dsl.uniform(0, 1)
    local v = setmetatable({ a = { 1, { 2 } }, d = d, s = "x" }, mt)
    local c = tables.deepcopy(v)
    assert.are.same(v, c)
    assert.are_not.equal(v, c)
    assert.are_not.equal(v.a, c.a)
    assert.are_not.equal(v.a[2], c.a[2])
    assert.are.equal(mt, getmetatable(c))
    assert.are.equal(d, c.d)
    assert.are.equal(5, tables.deepcopy(5))
  end)

  it("compares by value, tables element by element", function()
    assert.is_true(tables.equal({ 1, { a = 2 } }, { 1, { a = 2 } }))
    assert.is_false(tables.equal({ 1, 2 }, { 1, 2, 3 }))
    assert.is_false(tables.equal({ a = 1 }, { a = 1, b = 2 }))
    assert.is_false(tables.equal(1, "1"))
    assert.is_true(tables.equal("x", "x"))
  end)

  it("finds by value or by identity", function()
    local t = { 1 }
    local list = { { 0 }, { 1 }, t }
    assert.are.equal(2, tables.index_of(list, { 1 }))
    assert.is_nil(tables.index_of(list, { 2 }))
    assert.is_true(tables.contains(list, t))
    assert.is_false(tables.contains(list, { 1 }))
  end)

  it("tells a list from other tables", function()
    assert.is_true(tables.is_list { 1, 2 })
    assert.is_false(tables.is_list {})
    assert.is_false(tables.is_list { 1, a = 2 })
    assert.is_false(tables.is_list { [2] = 1 })
  end)

  it("gets and sets a value at a key path", function()
    local c = { optim = { lr = 0.1 }, x = 3 }
    assert.are.equal(0.1, tables.get(c, { "optim", "lr" }))
    assert.is_nil(tables.get(c, { "x", "y" }))
    assert.is_nil(tables.get(c, { "nope", "y" }))
    assert.are.equal(c, tables.get(c, {}))
    tables.set(c, { "x", "y", "z" }, 5)
    assert.are.same({ y = { z = 5 } }, c.x)
    tables.set(c, { "optim", "lr" }, 0.2)
    assert.are.equal(0.2, c.optim.lr)
  end)
end)

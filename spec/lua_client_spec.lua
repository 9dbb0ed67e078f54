-- The JSON codec and standalone mode of the Lua trainer client (trainers/lua/tunelua.lua).
-- Loaded by path: `require "tunelua"` in spec/ is the engine's runtime library.
local tune = dofile("trainers/lua/tunelua.lua")

describe("trainers/lua/tunelua.lua JSON", function()
  it("encodes scalars, arrays, objects; NaN and inf as null", function()
    assert.are.equal('{"a":1,"b":[1,2.5,"x"],"c":{},"d":true,"e":null,"f":null}',
      tune.encode { a = 1, b = { 1, 2.5, "x" }, c = {}, d = true, e = 0 / 0, f = math.huge })
    assert.are.equal("0.1", tune.encode(0.1))
    assert.are.equal("-3", tune.encode(-3))
    assert.are.equal("1e+300", tune.encode(1e300))
    assert.are.equal("9007199254740993", tune.encode(9007199254740993LL))
  end)

  it("escapes strings, replacing invalid UTF-8", function()
    assert.are.equal([["q\"b\\\n\t\u0001\u007f"]], tune.encode('q"b\\\n\t\1\127'))
    assert.are.equal('"caf\195\169"', tune.encode("caf\195\169"))
    assert.are.equal([["bad\ufffd("]], tune.encode("bad\255("))
  end)

  it("refuses values JSON cannot carry, naming them", function()
    local ok, err = pcall(tune.encode, { loss = print }, "metrics")
    assert.is_false(ok)
    assert.truthy(err:find("metrics.loss", 1, true), err)
  end)

  it("decodes, with escapes and surrogate pairs", function()
    local v = tune.decode(' {"a":[1,-2.5e2,null,"x"],"s":"\\u00e9\\ud83d\\ude00\\n","n":null,'
      .. '"t":true,"o":{}} ')
    assert.are.same({ 1, -250, tune.null, "x" }, v.a)
    assert.are.equal("\195\169\240\159\152\128\n", v.s)
    assert.is_nil(v.n)
    assert.is_true(v.t)
    assert.are.same({}, v.o)
  end)

  it("rejects malformed JSON", function()
    for _, s in ipairs { "", "{", "[1,]", "01", "1.", "nan", '"\\x"', "{} x", '{"a"}', "1e" } do
      assert.is_false(pcall(tune.decode, s), s)
    end
  end)

  it("round-trips", function()
    local v = { x = { 1, 2, { y = "z\0w" } }, k = -0.125, u = "\226\130\172" }
    assert.are.same(v, tune.decode(tune.encode(v)))
  end)
end)

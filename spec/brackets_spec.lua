-- tunelua.brackets: HyperBand's bracket table and rung budgets.
local B = require "tunelua.brackets"

describe("tunelua.brackets", function()
  it("the paper's Table 1 for max_t = 81, eta = 3", function()
    local t = B.table(81, 3)
    local got = {}
    for i, b in ipairs(t) do got[i] = { b.s, b.n, b.r } end
    assert.are.same({ { 4, 81, 1 }, { 3, 34, 3 }, { 2, 15, 9 }, { 1, 8, 27 }, { 0, 5, 81 } }, got)
    assert.are.same({ 81, 27, 9, 3, 1 }, (function()
      local ns = {}
      for i, r in ipairs(t[1].rungs) do ns[i] = r.n end
      return ns
    end)())
    assert.are.same(t, B.table())
  end)

  it("powers, s_max and rungs of a closed bracket", function()
    assert.are.equal(243, B.power(3, 5))
    assert.are.equal(5, B.s_max(243, 3))
    assert.are.equal(4, B.s_max(100, 3))
    local want = { { n = 2, r = 9 }, { n = 1, r = 27 }, { n = 1, r = 81 } }
    assert.are.same(want, B.rungs(2, 2, 81, 3))
  end)
end)

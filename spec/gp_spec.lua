-- The GP itself (kernel, Cholesky, fit, UCB) is specified in spec/schedulers/pb2_spec.lua;
-- this spec covers the data helpers PB2 uses and with_pending.
local gp = require "tunelua.gp"

describe("tunelua.gp helpers", function()
  it("scales to [0, 1] and finds a field's range", function()
    assert.are.equal(0.25, gp.scale(2, 1, 5))
    assert.are.equal(0, gp.scale(3, 3, 3))
    local lo, hi = gp.range({ { t = 4 }, { t = -1 }, { t = 2 } }, "t")
    assert.are.same({ -1, 4 }, { lo, hi })
  end)

  it("standardizes with the population sd and clips", function()
    local z = gp.standardize({ 1, 3 }, 2)
    assert.is_true(math.abs(z[1] + 1) < 1e-7 and math.abs(z[2] - 1) < 1e-7)
    z = gp.standardize({ 0, 0, 0, 10 }, 1.5)
    for i = 1, 3 do assert.is_true(math.abs(z[i] + 1 / math.sqrt(3)) < 1e-7, tostring(z[i])) end
    assert.are.equal(1.5, z[4])   -- sqrt(3) before the clip
    assert.are.same({ 0, 0 }, gp.standardize({ 7, 7 }, 2))
  end)

  it("adds pending points at y = 0, shrinking the variance there", function()
    local X, y = {}, {}
    for i = 0, 4 do
      X[#X + 1] = { 0, i / 8 }
      y[#y + 1] = i / 4
    end
    local m = gp.fit(X, y)
    assert.are.equal(m, m:with_pending(nil))
    assert.are.equal(m, m:with_pending({}))
    local far = { 0, 1 }
    local m1 = m:with_pending { far }
    local _, v0 = m:predict(far)
    local _, v1 = m1:predict(far)
    assert.is_true(v1 < v0 / 2, v0 .. " " .. v1)
    assert.are.equal(m.l, m1.l)
    assert.are.equal(#X + 1, m1.n)
  end)
end)

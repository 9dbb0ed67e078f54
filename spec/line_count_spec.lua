-- The paper's table 1 gives each algorithm's line count in Ray Tune; ours must be shorter
-- (non-blank, non-comment lines of the scheduler file; shared helpers live in lua/tunelua/).
local paper = { fifo = 10, asha = 78, hyperband = 215, median = 68, pbt = 169 }

local function count(path)
  local n = 0
  for line in io.lines(path) do
    if line:match("%S") and not line:match("^%s*%-%-") then n = n + 1 end
  end
  return n
end

describe("scheduler line counts against the Tune paper's table 1", function()
  for name, limit in pairs(paper) do
    it(name .. " is shorter than " .. limit .. " lines", function()
      local n = count("schedulers/" .. name .. ".lua")
      assert.is_true(n < limit, name .. ".lua has " .. n .. " lines")
    end)
  end
end)

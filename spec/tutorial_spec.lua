-- The scheduler tutorial of docs/schedulers.md, extracted from the doc and run through the
-- engine: the doc's code is the code that is tested.
local function read(path)
  local f = assert(io.open(path))
  local s = f:read("*a")
  f:close()
  return s
end

-- the binary under test: ./tunelua, or the sanitizer build's under make test-asan
local bin = os.getenv("TUNELUA_BIN") or "./tunelua"

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("*a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

describe("the scheduler tutorial in docs/schedulers.md", function()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  teardown(function() os.execute("rm -rf " .. dir) end)

  local doc = read("docs/schedulers.md")
  local section = doc:match("## Tutorial: a new scheduler.-```lua\n(.-)```")

  it("is under 40 lines", function()
    assert.is_string(section)
    local n = 0
    for line in section:gmatch("[^\n]+") do
      if not line:match("^%s*%-%-") and line:match("%S") then n = n + 1 end
    end
    assert.is_true(n < 40, n .. " lines")
  end)

  it("runs, and stops the bad trials at the milestones", function()
    local f = assert(io.open(dir .. "/my_cut.lua", "w"))
    f:write(section)
    f:close()
    f = assert(io.open(dir .. "/exp.lua", "w"))
    f:write([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { simulate = function(c, it) return { loss = c.q + 1 / it } end },
  config = { q = tune.grid_search { 1, 2, 3, 4, 5, 6, 7, 8 } },
  metric = "loss", mode = "min", stop = { training_iteration = 20 }, max_concurrent = 1,
  scheduler = dofile(]] .. string.format("%q", dir .. "/my_cut.lua") .. [[) { interval = 5 },
}
]])
    f:close()
    local out, rc = run(bin .. " " .. dir .. "/exp.lua --dir " .. dir .. "/run --quiet")
    assert.are.equal(0, rc, out)
    local cjson = require "cjson"
    local s = cjson.decode(read(dir .. "/run/summary.json"))
    local iters = {}
    for _, t in ipairs(s.trials) do iters[#iters + 1] = t.iterations end
    -- one at a time, in order of q (loss grows with q): the first three have too little to
    -- compare with and run 20; from the fourth on, each is the worst so far at iteration 5
    assert.are.same({ 20, 20, 20, 5, 5, 5, 5, 5 }, iters)
  end)

  it("checks its options", function()
    local f = assert(io.open(dir .. "/bad.lua", "w"))
    f:write([[
local tune = require "tunelua"
return tune.experiment {
  trainer = { simulate = function() return { loss = 1 } end },
  metric = "loss", mode = "min",
  scheduler = dofile(]] .. string.format("%q", dir .. "/my_cut.lua") .. [[) { fraction = 2 },
}
]])
    f:close()
    local out, rc = run(bin .. " " .. dir .. "/bad.lua --dir " .. dir .. "/bad --quiet")
    assert.are.equal(2, rc, out)
    assert.truthy(out:find("bad.lua:5: my_cut: fraction must be in (0, 1)", 1, true), out)
  end)
end)

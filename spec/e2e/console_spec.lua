-- End-to-end: what a person sees while an experiment runs. The live table is checked on a
-- pseudo-terminal (spec/e2e/trainers/pty_screen.py plays the output on a small terminal
-- emulator); plain lines and --json progress lines when stdout is not a terminal.
local H = require "spec.e2e.helpers"

local function exp_file(name)
  return H.experiment(H.exp_src {
    name = name,
    cmd = H.sh_trainer("cfgsteps.sh", "8", "0.25"),
    config = "{ x = tune.uniform(0, 1), optim = { lr = tune.loguniform(1e-4, 1e-1) } }",
    extra = [[  num_samples = 4, metric = "loss", mode = "min", seed = 11,]],
  })
end

-- The live block of a frame: from its "== " line to its last non-blank line.
local function block(frame)
  local first
  for i, line in ipairs(frame.lines) do
    if line:sub(1, 3) == "== " then first = i break end
  end
  if not first then return nil end
  local out = {}
  for i = first, #frame.lines do out[#out + 1] = frame.lines[i] end
  while #out > 0 and out[#out] == "" do out[#out] = nil end
  return out
end

local function find_line(lines, pattern)
  for _, l in ipairs(lines) do
    if l:find(pattern) then return l end
  end
end

describe("e2e: the live table on a terminal", function()
  local screen, dir
  setup(function()
    local exp = exp_file("e2e-console")
    dir = H.tmpdir() .. "/run"
    local out = H.tmpdir() .. "/screen.json"
    local engine = {}
    if H.wrap ~= "" then engine[#engine + 1] = H.wrap end
    for _, a in ipairs { H.bin, exp, "--dir", dir, "--cpus", "2" } do
      engine[#engine + 1] = H.quote(a)
    end
    -- 100 x 16, then 60 columns from 2.2 s on (a window made narrower while it runs)
    local cmd = string.format(
      "cd %s && timeout -k 5 %d python3 %s 100 16 %s --resize 2.2 60 16 -- %s",
      H.quote(H.root), H.timeout, H.quote(H.trainers .. "/pty_screen.py"), H.quote(out),
      table.concat(engine, " "))
    H.sh(cmd)
    screen = H.json(out)
  end)
  teardown(H.cleanup)

  it("ends normally and redraws in place about once a second", function()
    assert.are.equal(0, screen.rc)
    assert.is_true(#screen.frames >= 2, "frames: " .. #screen.frames)
    local blocks = 0
    for _, f in ipairs(screen.frames) do if block(f) then blocks = blocks + 1 end end
    assert.is_true(blocks >= 2, "frames with the live block: " .. blocks)
  end)

  it("shows counts by state, resources, the best trial and a table with the config", function()
    local seen
    for _, f in ipairs(screen.frames) do
      local b = block(f)
      if f.cols == 100 and b and find_line(b, "^top ") then seen = b end
    end
    assert.is_truthy(seen, "no 100-column frame with a top section")
    local text = table.concat(seen, "\n")
    assert.is_truthy(seen[1]:find("^== e2e%-console | %d+s | %d+ trials: %d+ running, %d+ pending, "
      .. "%d+ paused, %d+ terminated, %d+ error | %d+ results"), seen[1])
    assert.is_truthy(find_line(seen, "^   CPUs %d/2"), text)
    local best_id, best_v = text:match("best: trial (%d+) loss=([%d%.e%-]+) %(iter %d+%)")
    assert.is_truthy(best_id, text)
    local header = find_line(seen, "trial%s+status%s+iter%s+loss")
    assert.is_truthy(header, text)
    assert.is_truthy(header:find("%f[%w]lr%f[%W]") and header:find("%f[%w]x$"), header)
    -- the first row of the top section is the best trial, with its metric
    local top = find_line(seen, "^top ")
    assert.is_truthy(top:find("^top%s+" .. best_id .. "%s+%u+%s+%d+%s+"),
      top .. " / best " .. best_id)
    local shown = tonumber(top:match("^top%s+%d+%s+%u+%s+%d+%s+(%S+)"))
    assert.is_true(math.abs(tonumber(best_v) - shown) <= 1e-3 * math.abs(shown),
      top .. " / " .. best_v)
  end)

  it("fits every line of the block to the terminal, also after it was made narrower", function()
    local narrow = 0
    for _, f in ipairs(screen.frames) do
      local b = block(f)
      if b then
        assert.is_true(#b <= f.rows - 1, #b .. " lines on " .. f.rows .. " rows")
        for _, line in ipairs(b) do
          assert.is_true(#line <= f.cols - 1,
            "line of " .. #line .. " > " .. (f.cols - 1) .. ": " .. line)
        end
        if f.cols == 60 then
          narrow = narrow + 1
          assert.is_truthy(b[1]:find("^== e2e%-console"), b[1])
        end
      end
    end
    assert.is_true(narrow >= 1, "no frame drawn at 60 columns")
    -- nothing of the block ever ran past the last column (the header and the final lines may:
    -- they are printed once, like any program's output)
    for _, w in ipairs(screen.wraps) do
      local live = w.text:find("^==") or w.text:find("^   ") or w.text:find("^top ")
        or w.text:find("^latest ") or w.text:find("^%s+%d%d%d%d%d ") or w.text:find("^%s+trial ")
      assert.is_falsy(live, "the live block wrapped: " .. w.text)
    end
  end)

  it("leaves the final table, not the live block, on the screen", function()
    local final = table.concat(screen.final, "\n")
    assert.is_falsy(final:find("\n== e2e%-console"), final)
    assert.is_truthy(final:find("\ndone: "), final)
    local s = H.summary(dir)
    assert.is_truthy(final:find("Best trial " .. s.best_trial .. ": loss=", 1, true), final)
    assert.is_truthy(final:find("trial%s+status%s+iter%s+loss"), final)
  end)
end)

describe("e2e: progress when stdout is not a terminal", function()
  teardown(H.cleanup)

  it("prints plain periodic lines, no escape sequences", function()
    local dir = H.tmpdir() .. "/run"
    local exp = H.experiment(H.exp_src {
      name = "e2e-plain", cmd = H.sh_trainer("cfgsteps.sh", "6", "0.3"),
      config = "{ x = tune.uniform(0, 1) }",
      extra = [[  num_samples = 2, metric = "loss", mode = "min",]],
    })
    local r = H.run({ exp, "--dir", dir, "--cpus", "2" },
      { env = { TUNELUA_PROGRESS_INTERVAL = "1" } })
    assert.are.equal(0, r.code, H.describe(r))
    assert.is_falsy(r.stdout:find("\27", 1, true), "escape sequence in the output")
    local line = r.stdout:match("\n(%d+s | %d+ running, [^\n]*)")
    assert.is_truthy(line, r.stdout)
    assert.is_truthy(line:find("%d+ pending, %d+ paused, %d+ terminated, %d+ error | "
      .. "[%d%.]+/2 CPUs | %d+ results | best: "), line)
  end)

  it("--json: one JSON object per line, progress lines with the documented fields", function()
    local dir = H.tmpdir() .. "/run"
    local exp = H.experiment(H.exp_src {
      name = "e2e-json", cmd = H.sh_trainer("cfgsteps.sh", "6", "0.3"),
      trainer_extra = "resources = { cpu = 1, gpu = 0.5 }",
      config = "{ x = tune.uniform(0, 1) }",
      extra = [[  num_samples = 2, metric = "loss", mode = "min",]],
    })
    -- two fake cards: the two trials share one (0.5 each)
    local r = H.run({ exp, "--dir", dir, "--cpus", "2", "--json" },
      { env = { TUNELUA_FAKE_GPUS = "2" } })
    assert.are.equal(0, r.code, H.describe(r))
    local progress, last = {}, nil
    for line in r.stdout:gmatch("[^\n]+") do
      local v = H.decode(line)
      if v.ev == "progress" then progress[#progress + 1] = v end
      last = v
    end
    assert.are.equal("end", last.ev)
    assert.is_true(#progress >= 1, r.stdout)
    local most_gpus = 0
    for _, p in ipairs(progress) do
      for _, k in ipairs { "elapsed_s", "PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR",
        "trials", "results", "cpus_used", "cpus", "gpus_used", "gpus", "mem_used", "mem" } do
        assert.are.equal("number", type(p[k]), k .. " in " .. r.stdout)
      end
      assert.are.equal(2, p.cpus)
      assert.are.equal(2, p.gpus)
      assert.are.equal(p.RUNNING * 0.5, p.gpus_used)
      assert.are.equal(p.RUNNING, p.cpus_used)
      most_gpus = math.max(most_gpus, p.gpus_used)
      assert.are.equal(p.trials, p.PENDING + p.RUNNING + p.PAUSED + p.TERMINATED + p.ERROR)
      if p.best_trial ~= H.null then
        assert.are.equal("number", type(p.best))
        assert.are.equal("number", type(p.best_iteration))
      end
    end
    assert.are.equal(1, most_gpus, r.stdout)
  end)
end)

-- End-to-end: trials/<id>/events.out.tfevents.* (engine/tfevents.c), read back with the
-- independent reader spec/python/tfevents_reader.py (its own CRC32C, TFRecord and protobuf
-- decoding) and compared with result.jsonl: same steps, wall times, tags and float32 values.
local H = require "spec.e2e.helpers"
local ffi = require "ffi"

local reader = H.root .. "/spec/python/tfevents_reader.py"

-- An experiment of `samples` trials of steps.sh (one result each `pause` seconds, for
-- stop_at iterations), which the marker lets the spec reap.
local function steps_exp(name, marker, pause, samples, stop_at)
  return H.experiment(H.exp_src {
    name = name,
    cmd = H.sh_trainer("steps.sh", "100", pause, marker),
    extra = ([[  num_samples = %d, metric = "loss", mode = "min",
  stop = { training_iteration = %d },]]):format(samples, stop_at),
  })
end

local function f32(x)
  return tonumber(ffi.new("float[1]", x)[0])
end

-- The events files of a trial directory, sorted by name (the order TensorBoard reads them).
local function event_files(tdir)
  local out = {}
  local s = H.capture("ls " .. H.quote(tdir) .. " | grep '^events\\.out\\.tfevents\\.' | sort")
  for name in s:gmatch("[^\n]+") do out[#out + 1] = tdir .. "/" .. name end
  return out
end

-- Every event of the files, through the reader; nil and its stderr when it refuses them.
local function read_events(files)
  local d = H.tmpdir()
  local args = {}
  for i, f in ipairs(files) do args[i] = H.quote(f) end
  local code = H.sh("/usr/bin/python3 " .. H.quote(reader) .. " " .. table.concat(args, " ")
    .. " >" .. d .. "/out 2>" .. d .. "/err")
  if code ~= 0 then return nil, H.read(d .. "/err") end
  return H.jsonl(d .. "/out")
end

-- The scalars a result should give: numbers and booleans, nested tables flattened with '/',
-- without training_iteration and timestamp (the event's step and wall_time).
local function scalars(result, prefix, out)
  out = out or {}
  for k, v in pairs(result) do
    local key = prefix and (prefix .. "/" .. k) or k
    if type(v) == "table" and next(v) ~= nil and v[1] == nil then
      scalars(v, key, out)
    elseif type(v) == "number" and not (prefix == nil and
        (k == "training_iteration" or k == "timestamp")) then
      out[key] = f32(v)
    elseif type(v) == "boolean" then
      out[key] = v and 1 or 0
    end
  end
  return out
end

-- Checks a trial's events files against its result.jsonl; returns the number of files.
local function check_trial(tdir)
  local files = event_files(tdir)
  assert.is_true(#files >= 1, "no events file in " .. tdir)
  local evs, err = read_events(files)
  assert.is_table(evs, err)
  local results = H.jsonl(tdir .. "/result.jsonl")
  local scalar_events, per_file = {}, {}
  for _, ev in ipairs(evs) do
    if per_file[ev.file] == nil then
      -- every file starts with the file_version record
      assert.are.equal("brain.Event:2", ev.file_version, ev.file)
      assert.are.same({}, ev.values)
      per_file[ev.file] = true
    else
      assert.are.equal(H.null, ev.file_version)
      scalar_events[#scalar_events + 1] = ev
    end
  end
  assert.are.equal(#results, #scalar_events, tdir)
  for i, r in ipairs(results) do
    local ev = scalar_events[i]
    assert.are.equal(r.training_iteration, ev.step)
    assert.are.equal(r.timestamp, ev.wall_time)
    assert.are.same(scalars(r), ev.values)
  end
  return #files
end

local function trial_dirs(dir)
  local out = {}
  for _, t in ipairs(H.summary(dir).trials) do out[#out + 1] = dir .. "/trials/" .. t.id end
  return out
end

describe("e2e: TensorBoard event files", function()
  teardown(H.cleanup)

  it("hold every numeric value of every result, across ASHA's pauses and resumes", function()
    local exp = H.experiment [[
local tune = require "tunelua"
return tune.experiment {
  name = "tb-sim",
  trainer = { simulate = function(c, it)
    return { loss = 1 / (1 + c.lr * it) + 1e-9 * it, name = "sim", none = nil,
             extra = { depth = it, nested = { ok = it % 2 == 0, big = 1e30 * it } },
             list = { 1, 2 }, ok = it > 2, int = 123456789 }
  end },
  config = { lr = tune.loguniform(0.01, 1) },
  num_samples = 9, metric = "loss", mode = "min",
  scheduler = tune.schedulers.asha { promotion = true, max_t = 9, grace_period = 1,
                                     reduction_factor = 3 },
}
]]
    local dir = H.tmpdir() .. "/run"
    local r = H.run { exp, "--dir", dir, "--seed", "4", "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local paused = H.count(H.journal(dir), function(e) return e.status == "PAUSED" end)
    assert.is_true(paused > 0, "ASHA paused no trial")
    for _, tdir in ipairs(trial_dirs(dir)) do
      -- one run: pauses and resumes append to the trial's one file
      assert.are.equal(1, check_trial(tdir))
    end
    local evs = read_events(event_files(trial_dirs(dir)[1]))
    local tags = {}
    for k in pairs(evs[2].values) do tags[#tags + 1] = k end
    table.sort(tags)
    assert.are.same({ "extra/depth", "extra/nested/big", "extra/nested/ok", "int", "loss", "ok",
      "time_this_iter_s", "time_total_s" }, tags)
  end)

  it("survive an interrupted run and `tunelua resume` (a new file per run)", function()
    local marker = H.marker("tltb")
    local exp = steps_exp("tb-resume", marker, "0.1", 2, 12)
    local dir = H.tmpdir() .. "/run"
    local h = H.spawn({ exp, "--dir", dir, "--cpus", "2", "--quiet" })
    local started = H.wait_for(function()
      local ok, s = pcall(H.summary, dir)
      if not ok or #s.trials < 2 then return nil end
      for _, t in ipairs(s.trials) do if t.iterations < 2 then return nil end end
      return true
    end, 20)
    h.kill("INT")
    local code = h.wait(15)
    H.reap(marker)
    assert.is_truthy(started, "the trials did not report")
    assert.are.equal(3, code)
    H.sleep(1.1) -- the file names carry the run's start, in seconds
    local r = H.run { "resume", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    for _, tdir in ipairs(trial_dirs(dir)) do
      assert.are.equal(2, check_trial(tdir))
    end
  end)

  it("are completed by `tunelua resume` after a kill -9: each journaled step once", function()
    local marker = H.marker("tlkill")
    local exp = steps_exp("tb-kill", marker, "0.15", 2, 10)
    local dir = H.tmpdir() .. "/run"
    local h = H.spawn({ exp, "--dir", dir, "--cpus", "2", "--quiet" })
    local function results()
      local ok, j = pcall(H.journal, dir)
      return ok and H.count(j, function(e) return e.ev == "result" end) or 0
    end
    -- a kill -9 right after results arrived: the events files (written on the next tick)
    -- lack the newest of them
    local got = H.wait_for(function() return results() >= 7 end, 30)
    h.kill("KILL")
    h.wait(10)
    H.reap(marker)
    assert.is_truthy(got, "the trials did not report")
    -- and what a crash may also leave: the journal without a result the files already had
    -- (a 64 KiB write goes out before the turn's journal write), an events file torn mid-record
    local lines = H.lines(dir .. "/journal.jsonl")
    local last = #lines
    while not lines[last]:find('"ev":"result"', 1, true) do last = last - 1 end
    local keep = {}
    for i = 1, last - 1 do keep[i] = lines[i] end
    H.write(dir .. "/journal.jsonl", table.concat(keep, "\n") .. "\n")
    local tdirs = {}
    for name in H.capture("ls " .. H.quote(dir .. "/trials")):gmatch("[^\n]+") do
      tdirs[#tdirs + 1] = dir .. "/trials/" .. name
    end
    assert.are.equal(2, #tdirs)
    local torn = event_files(tdirs[1])[1]
    local blob = H.read(torn)
    H.write(torn, blob:sub(1, #blob - 3))
    H.sleep(1.1) -- the file names carry the run's start, in seconds
    local r = H.run { "resume", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    for _, tdir in ipairs(tdirs) do
      check_trial(tdir)
      local id = tdir:match("[^/]+$")
      local want = {}
      for _, e in ipairs(H.journal(dir)) do
        if e.ev == "result" and e.trial == id then want[#want + 1] = e.result.training_iteration end
      end
      local steps = {}
      for _, ev in ipairs(read_events(event_files(tdir))) do
        if ev.file_version == H.null then steps[#steps + 1] = ev.step end
      end
      assert.are.same(want, steps, tdir)
      assert.are.equal(10, #steps)
    end
  end)

  it("lose on resume the steps a crash left in them that the journal never recorded", function()
    local marker = H.marker("tlahead")
    local exp = steps_exp("tb-ahead", marker, "0.1", 1, 8)
    local dir = H.tmpdir() .. "/run"
    local h = H.spawn({ exp, "--dir", dir, "--quiet" })
    local got = H.wait_for(function()
      local ok, j = pcall(H.journal, dir)
      return ok and H.count(j, function(e) return e.ev == "result" end) >= 3
    end, 30)
    -- the trainer frozen, the events file catches up on the next tick; then the crash
    for _, pid in ipairs(H.pgrep(marker)) do os.execute("kill -STOP " .. pid) end
    H.sleep(1.5)
    h.kill("KILL")
    h.wait(10)
    H.reap(marker)
    assert.is_truthy(got, "the trial did not report")
    local tdir = dir .. "/trials/00000"
    local before = read_events(event_files(tdir))
    local n = #before - 1 -- the file_version record
    assert.is_true(n >= 3, "the events file was not written on the tick")
    -- the journal without the newest result, which the events file has
    local lines = H.lines(dir .. "/journal.jsonl")
    local last = #lines
    while not lines[last]:find('"ev":"result"', 1, true) do last = last - 1 end
    assert.is_truthy(lines[last]:find('"training_iteration":' .. n, 1, true), lines[last])
    local keep = {}
    for i = 1, last - 1 do keep[i] = lines[i] end
    H.write(dir .. "/journal.jsonl", table.concat(keep, "\n") .. "\n")
    H.sleep(1.1)
    local r = H.run { "resume", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    check_trial(tdir)
    local steps = {}
    for _, ev in ipairs(read_events(event_files(tdir))) do
      if ev.file_version == H.null then steps[#steps + 1] = ev.step end
    end
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, steps)
  end)

  it("are refused by the reader when a byte is damaged", function()
    local exp = H.experiment(H.exp_src {
      name = "tb-crc", cmd = H.sh_trainer("steps.sh", "3"),
    })
    local dir = H.tmpdir() .. "/run"
    local r = H.run { exp, "--dir", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    local files = event_files(dir .. "/trials/00000")
    assert.is_table(read_events(files))
    local blob = H.read(files[1])
    local at = #blob - 10 -- inside the last record's data
    H.write(files[1], blob:sub(1, at - 1) .. string.char((blob:byte(at) + 1) % 256)
      .. blob:sub(at + 1))
    local evs, err = read_events(files)
    assert.is_nil(evs)
    assert.is_truthy(err:find("data CRC mismatch", 1, true), err)
  end)

  it("are not written with logs = { tensorboard = false }", function()
    local exp = H.experiment(H.exp_src {
      name = "tb-off", cmd = H.sh_trainer("steps.sh", "2"),
      extra = "  logs = { tensorboard = false },",
    })
    local dir = H.tmpdir() .. "/run"
    local r = H.run { exp, "--dir", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    assert.is_true(H.exists(dir .. "/trials/00000/result.jsonl"))
    assert.are.same({}, event_files(dir .. "/trials/00000"))
  end)

  it("a bad logs field is an experiment error with file:line", function()
    local cases = {
      { "  logs = { tensorboard = \"yes\" },", "logs.tensorboard must be a boolean, got yes" },
      { "  logs = { csv = false },", "unknown field 'logs.csv'" },
      { "  logs = false,", "logs must be a table" },
    }
    for _, c in ipairs(cases) do
      local exp = H.experiment(H.exp_src { name = "tb-bad", cmd = '{ "true" }', extra = c[1] })
      local r = H.run { exp, "--dir", H.tmpdir() .. "/run", "--quiet" }
      assert.are.equal(2, r.code, H.describe(r))
      assert.is_truthy(r.stderr:find(exp .. ":6: " .. c[2], 1, true), H.describe(r))
    end
  end)
end)

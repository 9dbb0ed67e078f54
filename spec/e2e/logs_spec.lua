-- End-to-end: the trials' logs (result.jsonl, progress.csv) are written in batches after the
-- journal; a resume after a crash completes them from the journal, so they always end up
-- holding exactly the journaled results.
local H = require "spec.e2e.helpers"

local src = [[
local tune = require "tunelua"
return tune.experiment {
  trainer = { cmd = { "sh", "]] .. H.trainers .. [[/steps.sh", "6" } },
  config = { x = tune.uniform(0, 1) },
  num_samples = 2,
  metric = "loss", mode = "min",
}]]

local function journal_results(dir, id)
  local out = {}
  for _, e in ipairs(H.journal(dir)) do
    if e.ev == "result" and e.trial == id then out[#out + 1] = e.result end
  end
  return out
end

local function check_logs(dir)
  for _, t in ipairs(H.summary(dir).trials) do
    local want = journal_results(dir, t.id)
    local got = H.jsonl(dir .. "/trials/" .. t.id .. "/result.jsonl")
    assert.are.equal(6, #want)
    assert.are.same(want, got)
    local rows = H.csv(dir .. "/trials/" .. t.id .. "/progress.csv")
    assert.are.equal(#want + 1, #rows) -- header and one row per result
    for i, r in ipairs(want) do
      assert.are.equal(r.training_iteration, tonumber(rows[i + 1][4]))
    end
  end
end

describe("e2e: trial logs", function()
  teardown(H.cleanup)

  it("hold every result of the journal, in order, when the run ends", function()
    local exp, d = H.experiment(src)
    local r = H.run { exp, "--dir", d .. "/run", "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    check_logs(d .. "/run")
  end)

  it("go into a trial directory that is already there; no spare directory is left", function()
    -- one at a time, so that the later trials take a directory made ahead (a spare), and
    -- trial 00002's is already there and not empty, as a crash may leave it: its spare
    -- cannot be renamed onto it, and the trial uses it as it is
    local one_by_one = src:gsub("num_samples = 2,", "num_samples = 3, max_concurrent = 1,")
    local exp, d = H.experiment(one_by_one)
    local run = d .. "/run"
    H.sh("mkdir -p " .. run .. "/trials/00002")
    H.write(run .. "/trials/00002/stdout.log", "before\n")
    local r = H.run { exp, "--dir", run, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    check_logs(run)
    assert.are.equal("before", (H.read(run .. "/trials/00002/stdout.log") or ""):match("^[^\n]*"))
    assert.are.equal("00000 00001 00002",
      (H.capture("ls -A " .. run .. "/trials | tr '\\n' ' '"):gsub("%s+$", "")))
  end)

  it("are completed from the journal by a resume after a crash", function()
    local exp, d = H.experiment(src)
    local dir = d .. "/run"
    local r = H.run { exp, "--dir", dir, "--quiet" }
    assert.are.equal(0, r.code, H.describe(r))
    -- what a kill -9 leaves when the last batch never reached the files: result.jsonl cut
    -- after two results plus a torn line, progress.csv short; the other trial lost its file
    local ids = {}
    for _, t in ipairs(H.summary(dir).trials) do ids[#ids + 1] = t.id end
    local first = dir .. "/trials/" .. ids[1]
    local keep = H.lines(first .. "/result.jsonl")
    H.write(first .. "/result.jsonl", keep[1] .. "\n" .. keep[2] .. "\n" .. keep[3]:sub(1, 10))
    H.write(first .. "/progress.csv", "")
    os.remove(dir .. "/trials/" .. ids[2] .. "/result.jsonl")
    local r2 = H.run { "resume", dir, "--quiet" }
    assert.are.equal(0, r2.code, H.describe(r2))
    check_logs(dir)
  end)
end)

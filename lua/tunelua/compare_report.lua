-- What `tunelua compare` makes of its runs: per-run and per-method figures, the best-so-far
-- curves with their spread over repeats, the printed table and compare.json. The page is
-- lua/tunelua/compare_html.lua.
--
-- API
--   report.analyse(study)        fills study (see compare.lua) with the figures; returns it
--   report.table(study)          the table as text
--   report.json(value)           JSON text of a Lua value (arrays: sequences, or
--                                setmetatable(t, report.array) for an empty one)
--   report.write_json(study, path), report.write_html(study, path)
--   report.quantile(sorted, p)   linear interpolation between order statistics (R type 7)
local type, ipairs, pairs, tostring, setmetatable, getmetatable = type, ipairs, pairs, tostring,
  setmetatable, getmetatable
local format, concat, sort = string.format, table.concat, table.sort
local floor, ceil, sqrt, huge, min, max = math.floor, math.ceil, math.sqrt, math.huge, math.min,
  math.max

local M = {}
M.array = {}

local function arr(t) return setmetatable(t or {}, M.array) end

function M.quantile(s, p)
  local n = #s
  if n == 0 then return nil end
  local h = (n - 1) * p + 1
  local lo = floor(h)
  if lo >= n or h == lo then return s[min(lo, n)] end
  return s[lo] + (h - lo) * (s[lo + 1] - s[lo])
end

local function sorted(list)
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  sort(s)
  return s
end

local function mean_sd(list)
  local n = #list
  if n == 0 then return nil, nil end
  local sum = 0
  for _, v in ipairs(list) do sum = sum + v end
  local m = sum / n
  if n == 1 then return m, 0 end
  local ss = 0
  for _, v in ipairs(list) do ss = ss + (v - m) ^ 2 end
  local sd = sqrt(ss / (n - 1))
  if sd < 1e-12 * math.abs(m) then sd = 0 end -- rounding of equal values
  return m, sd
end

-- The median of `total` entries of which those missing from values (repeats that never got
-- there) rank last: nil when fewer than half the entries have a value. When exactly half have
-- one (an even total), the lower median: half the repeats got there by then.
local function median_reached(values, total)
  if total == 0 or #values * 2 < total then return nil end
  local s = sorted(values)
  if #values * 2 == total then return s[#s] end
  for _ = #s + 1, total do s[#s + 1] = huge end
  return M.quantile(s, 0.5)
end

-- One run: best-so-far steps on both axes, its best, what it used, and when it reached target.
local function run_figures(run, sign)
  local s = run.series
  local steps_k, steps_t, steps_v = arr(), arr(), arr()
  local best, seen = nil, {}
  local trials = 0
  for i = 1, s.n do
    local v = s.values[i]
    if not seen[s.trials[i]] then
      seen[s.trials[i]] = true
      trials = trials + 1
    end
    if v == v and (best == nil or sign * v < sign * best) then
      best = v
      steps_k[#steps_k + 1], steps_t[#steps_t + 1], steps_v[#steps_v + 1] = i, s.times[i], v
    end
  end
  run.best, run.results, run.results_total, run.trials = best, s.n, s.total, trials
  run.time_used = s.times[s.n]
  run.steps = { k = steps_k, t = steps_t, v = steps_v }
  return best ~= nil
end

local function reach(run, target, sign)
  local st = run.steps
  for i = 1, #st.v do
    if sign * st.v[i] <= sign * target then return st.k[i], st.t[i] end
  end
  return nil, nil
end

-- The best of the first n results of a run.
local function best_within(run, n)
  local st, best = run.steps, nil
  for i = 1, #st.k do
    if st.k[i] > n then break end
    best = st.v[i]
  end
  return best
end

-- The curve of a method on one axis ("k" results, "t" time): at every x where some repeat
-- improved or ended, the median and quartiles (and min, max) of best-so-far over the repeats
-- that have a result by x and have not ended; drawn while at least half of them are alive.
local function curve(runs, axis)
  local xs, seen = {}, {}
  for _, r in ipairs(runs) do
    local st = r.steps
    local last = axis == "k" and r.results or r.time_used
    for _, x in ipairs(st[axis]) do
      if not seen[x] then seen[x], xs[#xs + 1] = true, x end
    end
    if not seen[last] then seen[last], xs[#xs + 1] = true, last end
  end
  sort(xs)
  local out = { x = arr(), median = arr(), lo = arr(), hi = arr(), min = arr(), max = arr(),
    alive = arr() }
  local need = ceil(#runs / 2)
  local pos = {}
  for _, x in ipairs(xs) do
    local vals = {}
    for i, r in ipairs(runs) do
      local st = r.steps
      local p = pos[i] or 0
      while p < #st[axis] and st[axis][p + 1] <= x do p = p + 1 end
      pos[i] = p
      local last = axis == "k" and r.results or r.time_used
      if p > 0 and x <= last then vals[#vals + 1] = st.v[p] end
    end
    if #vals < need then
      if #out.x > 0 then break end
    else
      sort(vals)
      local n = #out.x + 1
      out.x[n], out.median[n] = x, M.quantile(vals, 0.5)
      out.lo[n], out.hi[n] = M.quantile(vals, 0.25), M.quantile(vals, 0.75)
      out.min[n], out.max[n], out.alive[n] = vals[1], vals[#vals], #vals
    end
  end
  return out
end

function M.analyse(study)
  local sign = study.mode == "max" and -1 or 1
  study.sign = sign
  for _, run in ipairs(study.runs) do
    if run.ok and not run_figures(run, sign) then
      run.ok, run.error = false, "no result with a number for " .. study.metric
    end
  end
  -- the target: given, or the worst of the methods' median bests
  local target, rule = study.target, "given with --target"
  if target == nil then
    for _, m in ipairs(study.methods) do
      local bests = {}
      for _, r in ipairs(m.runs) do
        if r.ok then bests[#bests + 1] = r.best end
      end
      local med = #bests > 0 and M.quantile(sorted(bests), 0.5) or nil
      if med and (target == nil or sign * med > sign * target) then target = med end
    end
    rule = "the worst method's median best"
  end
  study.target, study.target_rule = target, rule
  -- the common budget: the fewest results any run used, for best-at-equal-budget
  local common
  for _, r in ipairs(study.runs) do
    if r.ok then common = common and min(common, r.results) or r.results end
  end
  study.common = common
  for _, m in ipairs(study.methods) do
    local ok, bests, at_common, ks, ts, used, tused, walls, trials = {}, {}, {}, {}, {}, {}, {},
      {}, {}
    for _, r in ipairs(m.runs) do
      if r.ok then
        ok[#ok + 1] = r
        bests[#bests + 1] = r.best
        r.best_at_common = best_within(r, common)
        at_common[#at_common + 1] = r.best_at_common
        if target then r.iters_to_target, r.time_to_target = reach(r, target, sign) end
        if r.iters_to_target then
          ks[#ks + 1], ts[#ts + 1] = r.iters_to_target, r.time_to_target
        end
        used[#used + 1], tused[#tused + 1] = r.results, r.time_used
        trials[#trials + 1] = r.trials
      end
      walls[#walls + 1] = r.wall_s or 0
    end
    m.runs_ok, m.runs_total = #ok, #m.runs
    m.best_mean, m.best_sd = mean_sd(bests)
    local sb = sorted(bests)
    m.best_median, m.best_min, m.best_max = M.quantile(sb, 0.5), sb[1], sb[#sb]
    m.best_at_common_mean, m.best_at_common_sd = mean_sd(at_common)
    m.reached = #ks
    m.iters_to_target = median_reached(ks, #ok)
    m.time_to_target = median_reached(ts, #ok)
    m.iters_used = mean_sd(used)
    m.time_used = mean_sd(tused)
    m.trials = mean_sd(trials)
    m.wall_s = mean_sd(walls)
    if #ok > 0 then m.curve = { results = curve(ok, "k"), time = curve(ok, "t") } end
  end
  return study
end

local function num(v, fmt)
  if v == nil or v ~= v then return "-" end
  return format(fmt or "%.4g", v)
end

-- Pads the columns of rows (lists of strings): first column left, the others right.
local function columns(rows)
  local w = {}
  for _, row in ipairs(rows) do
    for i, c in ipairs(row) do w[i] = max(w[i] or 0, #c) end
  end
  local out = {}
  for _, row in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(row) do
      cells[i] = i == 1 and c .. (" "):rep(w[i] - #c) or (" "):rep(w[i] - #c) .. c
    end
    out[#out + 1] = concat(cells, "  ")
  end
  return concat(out, "\n") .. "\n"
end

function M.table(study)
  local tunit = study.executor == "simulate" and "virtual s" or "s"
  local show_common = false
  for _, r in ipairs(study.runs) do
    if r.ok and r.results > study.common then show_common = true end
  end
  local head = { "method", "runs", "best " .. study.metric .. " (mean ± sd)" }
  if show_common then head[#head + 1] = "best@" .. study.common end
  for _, h in ipairs { "iters to target", "time to target", "reached", "iters used",
    "trials", "wall s" } do head[#head + 1] = h end
  local rows = { head }
  for _, m in ipairs(study.methods) do
    local row = { m.label, m.runs_ok .. "/" .. m.runs_total,
      m.best_mean and (num(m.best_mean) .. " ± " .. num(m.best_sd, "%.2g")) or "-" }
    if show_common then
      row[#row + 1] = m.best_at_common_mean and (num(m.best_at_common_mean) .. " ± " ..
        num(m.best_at_common_sd, "%.2g")) or "-"
    end
    for _, c in ipairs {
      num(m.iters_to_target, "%d"), num(m.time_to_target, "%.4g"),
      m.reached .. "/" .. m.runs_ok, num(m.iters_used, "%.0f"), num(m.trials, "%.0f"),
      num(m.wall_s, "%.2f"),
    } do row[#row + 1] = c end
    rows[#rows + 1] = row
  end
  local b = study.budget
  local lines = {
    format("%s: %s (%s), %d repeats (seeds %d-%d), executor %s, budget %s; %d runs in %.2f s",
      study.experiment, study.metric, study.mode, study["repeat"], study.seed,
      study.seed + study["repeat"] - 1, study.executor,
      b and (b.results and (b.results .. " results") or (b.time .. " s")) or "none",
      #study.runs, study.wall_s),
    format("target: %s <= %s (%s)", study.metric, num(study.target, "%.6g"), study.target_rule),
    "",
    columns(rows),
  }
  if study.mode == "max" then lines[2] = lines[2]:gsub("<=", ">=") end
  local notes = "best: over each run's results within the budget; iters/time to target: " ..
    "median over repeats (- when under half reached it); time in " .. tunit
  if show_common then
    notes = notes .. "; best@" .. study.common .. ": within the first " .. study.common ..
      " results (the fewest any run used)"
  end
  lines[#lines + 1] = notes .. "\n"
  return concat(lines, "\n")
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode(v, out)
  local t = type(v)
  if t == "nil" then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "number" then
    if v ~= v or v == huge or v == -huge then
      out[#out + 1] = "null"
    elseif v == floor(v) and v > -1e15 and v < 1e15 then
      out[#out + 1] = format("%d", v)
    else
      out[#out + 1] = format("%.17g", v)
    end
  elseif t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
      return escapes[c] or format("\\u%04x", c:byte())
    end) .. '"'
  elseif t == "table" then
    if getmetatable(v) == M.array or v[1] ~= nil then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        encode(k, out)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  else
    out[#out + 1] = "null"
  end
end

function M.json(v)
  local out = {}
  encode(v, out)
  return concat(out)
end

-- The machine-readable study (docs/research.md, "compare.json").
function M.document(study)
  local methods, runs = arr(), arr()
  for _, m in ipairs(study.methods) do
    methods[#methods + 1] = {
      label = m.label, scheduler = m.scheduler, searcher = m.searcher or false,
      runs_ok = m.runs_ok, runs = m.runs_total,
      best_mean = m.best_mean, best_sd = m.best_sd, best_median = m.best_median,
      best_min = m.best_min, best_max = m.best_max,
      best_at_common_mean = m.best_at_common_mean, best_at_common_sd = m.best_at_common_sd,
      reached = m.reached, iters_to_target = m.iters_to_target,
      time_to_target = m.time_to_target, iters_used = m.iters_used, time_used = m.time_used,
      trials = m.trials, wall_s = m.wall_s, curve = m.curve or false,
    }
  end
  for _, r in ipairs(study.runs) do
    runs[#runs + 1] = {
      label = r.label, method = r.method.label, ["repeat"] = r["repeat"], seed = r.seed,
      dir = r.dir, exit = r.code, ok = r.ok or false, error = r.error or false,
      wall_s = r.wall_s, results = r.results, results_total = r.results_total,
      trials = r.trials, best = r.best, best_at_common = r.best_at_common,
      iters_to_target = r.iters_to_target or false, time_to_target = r.time_to_target or false,
      time_used = r.time_used, argv = r.argv and arr(r.argv) or false,
      best_so_far = r.steps and { results = r.steps.k, time = r.steps.t, value = r.steps.v }
        or false,
    }
  end
  local b = study.budget
  return {
    version = 1, experiment = study.experiment, name = study.name or false,
    metric = study.metric, mode = study.mode, executor = study.executor,
    ["repeat"] = study["repeat"], seed = study.seed, jobs = study.jobs, wall_s = study.wall_s,
    budget = b and { results = b.results or false, time = b.time or false } or false,
    time_unit = study.executor == "simulate" and "virtual seconds" or "seconds",
    target = study.target, target_rule = study.target_rule, common_results = study.common,
    methods = methods, runs = runs,
  }
end

local function write(path, text)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "w"))
  f:write(text)
  f:close()
  assert(os.rename(tmp, path))
end

function M.write_json(study, path)
  write(path, M.json(M.document(study)) .. "\n")
end

function M.write_html(study, path)
  local html = require "tunelua.compare_html"
  local data = M.json(M.document(study)):gsub("</", "<\\/")
  write(path, html.page(data, study))
end

return M

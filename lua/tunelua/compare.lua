-- `tunelua compare`: every scheduler x searcher x repeat of one experiment, with the same seeds
-- and budget, each run a child `tunelua run` in its own directory; then a table, compare.json
-- and compare.html (docs/research.md). engine/compare.c starts main() and gives, through the
-- FFI, child processes, a monotonic clock and a journal reader.
local ffi = require "ffi"
local tune = require "tunelua"
local budget = require "tunelua.budget"
local report = require "tunelua.compare_report"

local type, ipairs, pairs, tostring, tonumber, pcall, error = type, ipairs, pairs, tostring,
  tonumber, pcall, error
local format, floor = string.format, math.floor
local stderr = io.stderr

ffi.cdef [[
int tl_ffi_compare_spawn(const char **argv, const char **env_add, const char *log, int *pid,
                         const char **err);
int tl_ffi_compare_wait(double timeout_s, int *pid, int *code);
int tl_ffi_compare_signal(int pid, int sig);
void tl_ffi_compare_catch_signals(void);
int tl_ffi_compare_stopping(void);
double tl_ffi_compare_now(void);
int tl_ffi_compare_ncpus(void);
int tl_ffi_compare_self(char *buf, int len);
int tl_ffi_compare_series(const char *journal, const char *metric, long *n, double **value,
                          double **time, int **trial, int *ntrials, const char **err);
void tl_ffi_compare_free(void *p);
int mkdir(const char *path, unsigned int mode);
int isatty(int fd);
]]
local C = ffi.C

local M = {}

M.usage = [[
usage: tunelua compare EXPERIMENT.lua --schedulers a,b,... [options]
  Runs every scheduler x searcher x repeat with the same seeds and budget, each a normal
  `tunelua run` in DIR/<scheduler>-<searcher>-r<k>/, then prints a table and writes
  DIR/compare.json and DIR/compare.html (best-so-far against budget).
  --schedulers a,b,...   fifo, asha, hyperband, median, pbt, ..., a .lua file, or a name in
                         the experiment's `schedulers = { name = tune.schedulers.x {...} }`
  --searchers x,y,...    likewise (random, tpe, ...); default: the experiment's own
  --repeat K             runs per method; repeat k uses seed S+k-1 for every method (3)
  --seed S               first seed (the experiment's seed, else 1)
  --budget N | Ns|Nm|Nh  per run: N results (trial-iterations) or a time (virtual under
                         simulate); default: each run ends as the experiment says
  --executor local|simulate|slurm  passed to every run (default: the experiment's)
  --target X             the metric value to reach (default: the worst method's median best)
  --jobs J               runs at a time (default: the number of CPUs)
  --dir DIR              where (default ./tunelua_runs/compare-<name>-<time>)
  --max-concurrent N     passed to every run
  --lua-dir DIR          development: load lua/ and schedulers/ from DIR (runs too)
  --quiet                no progress lines
exit status: 0 every run ended, 1 some run failed (the others are still reported), 2 bad
experiment or command line, 3 interrupted (the runs that ended are reported)
]]

local function fail(msg)
  error({ usage = "tunelua compare: " .. msg }, 0)
end

local function split(s)
  local out = {}
  for part in s:gmatch("[^,]+") do
    part = part:match("^%s*(.-)%s*$")
    if part ~= "" then out[#out + 1] = part end
  end
  return out
end

local flags = {
  ["--schedulers"] = true, ["--searchers"] = true, ["--repeat"] = true, ["--seed"] = true,
  ["--budget"] = true, ["--executor"] = true, ["--target"] = true, ["--jobs"] = true,
  ["--dir"] = true, ["--max-concurrent"] = true, ["--lua-dir"] = true,
}

local function whole(name, v, min)
  local n = tonumber(v)
  if not n or n ~= floor(n) or n < min then
    fail(format("%s expects a whole number >= %d, got '%s'", name, min, tostring(v)))
  end
  return n
end

-- The command line as a table; a mistake raises a usage error.
function M.parse(args)
  local o = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then
      o.help = true
    elseif a == "--quiet" then
      o.quiet = true
    elseif a:sub(1, 2) == "--" then
      local name, val = a:match("^(%-%-[%w-]+)=(.*)$")
      name = name or a
      if not flags[name] then fail("unknown option " .. a) end
      if not val then
        i = i + 1
        val = args[i]
        if val == nil then fail(name .. " needs a value") end
      end
      o[name:sub(3)] = val
    elseif o.experiment then
      fail("unexpected argument " .. a)
    else
      o.experiment = a
    end
    i = i + 1
  end
  if o.help then return o end
  if not o.experiment then fail("no experiment file given") end
  if not o.schedulers then fail("--schedulers is required (e.g. --schedulers fifo,asha)") end
  o.scheduler_list = split(o.schedulers)
  if #o.scheduler_list == 0 then fail("--schedulers names no scheduler") end
  o.searcher_list = o.searchers and split(o.searchers) or nil
  if o.searcher_list and #o.searcher_list == 0 then fail("--searchers names no searcher") end
  o["repeat"] = whole("--repeat", o["repeat"] or 3, 1)
  if o.seed then o.seed = whole("--seed", o.seed, 0) end
  o.jobs = whole("--jobs", o.jobs or C.tl_ffi_compare_ncpus(), 1)
  if o["max-concurrent"] then whole("--max-concurrent", o["max-concurrent"], 0) end
  if o.executor and not o.executor:match("^[%w_]+$") then
    fail("--executor " .. o.executor .. ": local, simulate or slurm")
  end
  if o.budget then
    local b, why = budget.parse(o.budget)
    if not b then fail("--budget: " .. why) end
    o.budget_spec = b
  end
  if o.target then
    o.target = tonumber(o.target)
    if not o.target or o.target ~= o.target then fail("--target expects a number") end
  end
  return o
end

-- Loads the experiment file as the runner would (tune.loading set), for its metric, mode,
-- name, seed and named variants; a broken file is a usage error with its file:line.
local function load_experiment(path)
  local chunk, err = loadfile(path)
  if not chunk then fail(tostring(err)) end
  tune.loading = path
  local ok, exp = pcall(chunk)
  tune.loading = nil
  if not ok then fail((tostring(exp):gsub("^tunelua: ", ""))) end
  if not tune.is_experiment(exp) then
    fail(path .. ": the file must return tune.experiment { ... }")
  end
  if not exp.metric then
    fail(path .. ": compare needs the experiment's metric and mode, to rank the methods")
  end
  return exp
end


-- Checks that `name` gives a scheduler (kind "scheduler", method on_result) or a searcher
-- ("searcher", suggest) the way `tunelua run --scheduler name` would build it. Returns the
-- label for directory names.
local function resolve(exp, kind, name)
  local variants = kind == "scheduler" and exp.schedulers or exp.searchers
  local needs = kind == "scheduler" and "on_result" or "suggest"
  if not name:match("^[%w_./-]+$") then
    fail(format("%s name '%s' has odd characters", kind, name))
  end
  if variants[name] then return name end
  local ctor
  if name:match("%.lua$") then
    local chunk, err = loadfile(name)
    if not chunk then fail(format("%s %s: %s", kind, name, tostring(err))) end
    local ok, v = pcall(chunk)
    if not ok then fail(format("%s %s: %s", kind, name, tostring(v))) end
    ctor = v
  else
    local ok, v = pcall(require, "schedulers." .. name)
    if not ok then
      fail(require("tunelua.swap").unknown(kind, name))
    end
    ctor = v
  end
  local ok, obj = pcall(ctor, {})
  if not ok then
    fail(format("%s '%s' cannot be built with default options: %s\n  (give it options in the " ..
      "experiment: %ss = { %s = tune.%ss.%s { ... } })", kind, name,
      tostring(obj):gsub("^[^:]*:%d+: ", ""), kind, name:gsub("%.lua$", ""):match("[^/]+$"), kind,
      name:gsub("%.lua$", ""):match("[^/]+$")))
  end
  if type(obj) ~= "table" or type(obj[needs]) ~= "function"
    or (kind == "scheduler" and obj.suggest ~= nil) then
    fail(format("'%s' is not a %s (%s)", name, kind, kind == "scheduler" and obj.suggest
      and "it is a searcher: use --searchers" or "it has no " .. needs))
  end
  return (name:gsub("%.lua$", ""):match("[^/]+$"))
end

local function mkdirs(path)
  local sofar = path:sub(1, 1) == "/" and "" or "."
  for part in path:gmatch("[^/]+") do
    sofar = sofar .. "/" .. part
    C.mkdir(sofar, tonumber("755", 8))
  end
  local f = io.open(path .. "/.compare-probe", "w")
  if not f then fail("cannot create the directory " .. path) end
  f:close()
  os.remove(path .. "/.compare-probe")
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

local function self_path()
  local buf = ffi.new("char[4096]")
  if C.tl_ffi_compare_self(buf, 4096) ~= 0 then return "tunelua" end
  return ffi.string(buf)
end

-- The argv of one run.
local function command(o, self, run)
  local argv = { self, "run", o.experiment, "--dir", run.path, "--seed", tostring(run.seed),
    "--quiet", "--scheduler", run.scheduler }
  local function add(...)
    for _, a in ipairs { ... } do argv[#argv + 1] = a end
  end
  if run.searcher then add("--searcher", run.searcher) end
  if o.executor then add("--executor", o.executor) end
  if o["max-concurrent"] then add("--max-concurrent", o["max-concurrent"]) end
  if o["lua-dir"] then add("--lua-dir", o["lua-dir"]) end
  return argv
end

local function cstrings(list)
  local arr = ffi.new("const char *[?]", #list + 1)
  for i, s in ipairs(list) do arr[i - 1] = s end
  arr[#list] = nil
  return arr
end

-- Runs the list of runs, at most o.jobs at a time; fills run.code, run.wall_s, run.error.
-- A run under a time budget with real processes gets SIGTERM once well past it (exit 3,
-- which counts as ended by the budget). After SIGINT or SIGTERM nothing new starts, the
-- running runs are sent SIGTERM (a terminal's Ctrl-C reached them already) and awaited;
-- runs never started are marked so. Returns the signal number, or 0.
local function execute(o, runs, progress)
  C.tl_ffi_compare_catch_signals()
  local self = self_path()
  local env = { "TUNELUA_BUDGET=" .. (o.budget or "") }
  local cenv = cstrings(env)
  local pid, code, errp = ffi.new("int[1]"), ffi.new("int[1]"), ffi.new("const char *[1]")
  local running, nrun, next_i, done = {}, 0, 1, 0
  local limit = o.budget_spec and o.budget_spec.time and o.executor_kind ~= "simulate"
    and o.budget_spec.time * 1.1 + 5 or nil
  local forwarded = false
  while done < #runs do
    if C.tl_ffi_compare_stopping() ~= 0 and not forwarded then
      forwarded = true
      for i = next_i, #runs do
        runs[i].code, runs[i].error, runs[i].wall_s = -1, "not started: compare was interrupted", 0
      end
      done = done + #runs - next_i + 1
      next_i = #runs + 1
      for p in pairs(running) do C.tl_ffi_compare_signal(p, 15) end
    end
    while nrun < o.jobs and next_i <= #runs do
      local run = runs[next_i]
      next_i = next_i + 1
      mkdirs(run.path)
      local argv = command(o, self, run)
      run.argv = argv
      run.log = run.path .. "/run.log"
      local keep = cstrings(argv)
      run.started = C.tl_ffi_compare_now()
      if C.tl_ffi_compare_spawn(keep, cenv, run.log, pid, errp) ~= 0 then
        run.code, run.error, run.wall_s = -1, "cannot start: " .. ffi.string(errp[0]), 0
        done = done + 1
      else
        running[pid[0]] = run
        nrun = nrun + 1
      end
    end
    if nrun == 0 then break end
    local got = C.tl_ffi_compare_wait(0.25, pid, code)
    if got == 1 and running[pid[0]] then
      local run = running[pid[0]]
      running[pid[0]] = nil
      nrun, done = nrun - 1, done + 1
      run.wall_s = C.tl_ffi_compare_now() - run.started
      run.code = code[0]
      if progress then
        stderr:write(format("[%d/%d] %s: exit %d, %.2f s\n", done, #runs, run.label, run.code,
          run.wall_s))
      end
    elseif got == -1 then
      break
    end
    if limit then
      local now = C.tl_ffi_compare_now()
      for p, run in pairs(running) do
        if not run.signalled and now - run.started > limit then
          run.signalled = true
          C.tl_ffi_compare_signal(p, 15)
        end
      end
    end
  end
  return C.tl_ffi_compare_stopping()
end

-- What a run left: its result series from the journal, cut at the budget.
local function read_series(run, metric, b)
  local n, v, t, tr, nt = ffi.new("long[1]"), ffi.new("double*[1]"), ffi.new("double*[1]"),
    ffi.new("int*[1]"), ffi.new("int[1]")
  local errp = ffi.new("const char *[1]")
  if C.tl_ffi_compare_series(run.path .. "/journal.jsonl", metric, n, v, t, tr, nt, errp) ~= 0 then
    return nil, ffi.string(errp[0])
  end
  local count = tonumber(n[0])
  local keep = count
  if b and b.results and keep > b.results then keep = b.results end
  local values, times, trials = {}, {}, {}
  for i = 0, keep - 1 do
    local ti = t[0][i]
    if b and b.time and ti > b.time then
      keep = i
      break
    end
    values[i + 1], times[i + 1], trials[i + 1] = v[0][i], ti, tr[0][i]
  end
  C.tl_ffi_compare_free(v[0])
  C.tl_ffi_compare_free(t[0])
  C.tl_ffi_compare_free(tr[0])
  return { values = values, times = times, trials = trials, n = keep, total = count }
end

local function last_line(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local last
  for line in f:lines() do
    if line:match("%S") then last = line end
  end
  f:close()
  return last
end

function M.main(args)
  local ok, o = pcall(M.parse, args)
  if not ok then
    if type(o) == "table" and o.usage then
      stderr:write(o.usage, " (see tunelua compare --help)\n")
      return 2
    end
    error(o, 0)
  end
  if o.help then
    io.stdout:write(M.usage)
    return 0
  end
  local ok2, code = xpcall(function() return M.compare(o) end, function(e)
    if type(e) == "table" then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if not ok2 then
    if type(code) == "table" and code.usage then
      stderr:write(code.usage, "\n")
      return 2
    end
    error(code, 0)
  end
  return code
end

-- Everything after the command line: check, run, analyse, report. Returns the exit code.
function M.compare(o)
  local exp = load_experiment(o.experiment)
  if not o.budget_spec and exp.budget then
    o.budget_spec = exp.budget -- the runs end at the file's budget: count within it too
  end
  local executor = o.executor or exp.executor
  if executor == "simulate" and not exp.simulate then
    fail(o.experiment .. ": --executor simulate needs trainer.simulate in the experiment")
  end
  o.executor_kind = executor
  local scheds, labels = {}, {}
  for _, name in ipairs(o.scheduler_list) do
    local label = resolve(exp, "scheduler", name)
    scheds[#scheds + 1] = { name = name, label = label }
  end
  local searchers = {}
  if o.searcher_list then
    for _, name in ipairs(o.searcher_list) do
      searchers[#searchers + 1] = { name = name, label = resolve(exp, "searcher", name) }
    end
  else
    local own = exp.searcher and exp.searcher.name or "random"
    searchers[1] = { label = tostring(own):gsub("[^%w_.-]", "_") }
  end
  local methods = {}
  for _, s in ipairs(scheds) do
    for _, q in ipairs(searchers) do
      local label = s.label .. "-" .. q.label
      if labels[label] then fail("two methods would share the name " .. label) end
      labels[label] = true
      methods[#methods + 1] = { label = label, scheduler = s.name, searcher = q.name,
        searcher_label = q.label, runs = {} }
    end
  end
  local seed = o.seed or exp.seed or 1
  local dir = o.dir or format("tunelua_runs/compare-%s-%s", exp.name or "experiment",
    os.date("%Y%m%d-%H%M%S"))
  dir = dir:gsub("/+$", "")
  if exists(dir .. "/compare.json") then
    fail(dir .. " already holds a comparison (compare.json); choose another --dir")
  end
  local runs = {}
  for r = 1, o["repeat"] do
    for _, m in ipairs(methods) do
      local label = m.label .. "-r" .. r
      local path = dir .. "/" .. label
      if exists(path .. "/journal.jsonl") then
        fail(path .. " already holds an experiment; choose another --dir")
      end
      local run = { label = label, method = m, ["repeat"] = r, seed = seed + r - 1, path = path,
        dir = label, scheduler = m.scheduler, searcher = m.searcher }
      runs[#runs + 1] = run
      m.runs[#m.runs + 1] = run
    end
  end
  mkdirs(dir)
  local quiet = o.quiet
  if not quiet then
    stderr:write(format("tunelua compare: %d methods x %d repeats = %d runs, %d at a time, in %s\n",
      #methods, o["repeat"], #runs, math.min(o.jobs, #runs), dir))
  end
  local t0 = C.tl_ffi_compare_now()
  local signal = execute(o, runs, not quiet and C.isatty(2) == 1)
  local wall = C.tl_ffi_compare_now() - t0

  local failed = 0
  for _, run in ipairs(runs) do
    -- 0 done, 1 some trial failed (the run still ranks), 3 interrupted (a time budget's end)
    if run.code == 0 or run.code == 1 or run.code == 3 then
      local s, why = read_series(run, exp.metric, o.budget_spec)
      if s and s.n > 0 then
        run.series, run.ok = s, true
      else
        run.error = why or "no result with the metric " .. exp.metric
      end
    else
      run.error = run.error or format("exit %d: %s", run.code,
        last_line(run.log or "") or "(no output)")
    end
    if not run.ok then failed = failed + 1 end
  end
  local study = report.analyse {
    experiment = o.experiment, name = exp.name, metric = exp.metric, mode = exp.mode,
    methods = methods, runs = runs, budget = o.budget_spec, budget_text = o.budget,
    target = o.target, seed = seed, ["repeat"] = o["repeat"], executor = executor or "local",
    jobs = o.jobs, wall_s = wall, dir = dir,
  }
  io.stdout:write(report.table(study))
  for _, run in ipairs(runs) do
    if not run.ok then
      io.stdout:write(format("failed: %s: %s (see %s)\n", run.label, run.error,
        run.log or run.path))
    end
  end
  report.write_json(study, dir .. "/compare.json")
  report.write_html(study, dir .. "/compare.html")
  io.stdout:write(format("wrote %s/compare.json and %s/compare.html\n", dir, dir))
  if signal ~= 0 then
    stderr:write("tunelua compare: interrupted; the table covers the runs that ended (each " ..
      "interrupted run can be continued with tunelua resume DIR)\n")
    return 3
  end
  return failed > 0 and 1 or 0
end

return M

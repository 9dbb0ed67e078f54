-- Helpers for the end-to-end specs: run the tunelua binary, read what it wrote.
--
-- TUNELUA_BIN  path of the binary (default ./tunelua, from the repo root)
-- TUNELUA_WRAP prefix for every engine run, e.g. "valgrind -q --error-exitcode=99"
-- TUNELUA_E2E_TIMEOUT seconds before a run is killed (default 60)
local cjson = require "cjson"

local H = {}

local function sh_quote(s)
  s = tostring(s)
  if s:match("^[%w%-%./_=:,+@]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
H.quote = sh_quote

local function getcwd()
  local p = io.popen("pwd")
  local d = p:read("*l")
  p:close()
  return d
end

H.root = getcwd()
H.e2e = H.root .. "/spec/e2e"
H.trainers = H.e2e .. "/trainers"

local bin = os.getenv("TUNELUA_BIN") or "./tunelua"
if bin:sub(1, 1) ~= "/" then bin = H.root .. "/" .. bin:gsub("^%./", "") end
H.bin = bin
H.wrap = os.getenv("TUNELUA_WRAP") or ""
H.timeout = tonumber(os.getenv("TUNELUA_E2E_TIMEOUT") or "") or 60

-- Runs a shell command line, returns its exit status (0..255; 128+n for a signal).
function H.sh(cmdline)
  local p = io.popen("( " .. cmdline .. " ) >/dev/null 2>&1; echo $?")
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("(%d+)%s*$"))
end

-- Output of a shell command line (stdout), trailing newline removed.
function H.capture(cmdline)
  local p = io.popen(cmdline)
  local out = p:read("*a")
  p:close()
  return (out:gsub("\n$", ""))
end

function H.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

function H.read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function H.exists(path)
  return H.sh("test -e " .. sh_quote(path)) == 0
end

function H.isdir(path)
  return H.sh("test -d " .. sh_quote(path)) == 0
end

function H.json(path)
  local s = H.read(path)
  assert(s, "cannot read " .. path)
  return cjson.decode(s)
end

H.decode = cjson.decode
H.null = cjson.null

function H.lines(path)
  local s = H.read(path)
  assert(s, "cannot read " .. path)
  local out = {}
  for line in s:gmatch("([^\n]*)\n") do out[#out + 1] = line end
  local tail = s:match("([^\n]+)$")
  if tail then out[#out + 1] = tail end
  return out
end

-- Every line of a JSONL file, decoded.
function H.jsonl(path)
  local out = {}
  for _, line in ipairs(H.lines(path)) do
    if line ~= "" then out[#out + 1] = cjson.decode(line) end
  end
  return out
end

function H.summary(dir)
  return H.json(dir .. "/summary.json")
end

function H.journal(dir)
  return H.jsonl(dir .. "/journal.jsonl")
end

-- The journal events of one kind ("swap", "decision", ...), in order.
function H.events(dir, kind)
  local out = {}
  for _, e in ipairs(H.journal(dir)) do
    if e.ev == kind then out[#out + 1] = e end
  end
  return out
end

-- How many trials summary.json shows RUNNING with at least min_iterations results; nil while
-- there is no summary.json to read.
function H.running(dir, min_iterations)
  local ok, s = pcall(H.summary, dir)
  if not ok then return nil end
  return H.count(s.trials, function(t)
    return t.status == "RUNNING" and t.iterations >= min_iterations
  end)
end

-- summary.trials keyed by id, and the list of ids.
function H.trials_by_id(summary)
  local by = {}
  for _, t in ipairs(summary.trials) do by[t.id] = t end
  return by
end

-- Trials of a summary whose config[key] == value.
function H.trials_where(summary, key, value)
  local out = {}
  for _, t in ipairs(summary.trials) do
    if t.config[key] == value then out[#out + 1] = t end
  end
  return out
end

local tmpdirs = {}

-- A fresh temporary directory, removed by H.cleanup().
function H.tmpdir()
  local d = H.capture("mktemp -d /tmp/tunelua-e2e.XXXXXX")
  assert(d ~= "", "mktemp failed")
  tmpdirs[#tmpdirs + 1] = d
  return d
end

function H.cleanup()
  for i = #tmpdirs, 1, -1 do
    os.execute("rm -rf " .. sh_quote(tmpdirs[i]))
    tmpdirs[i] = nil
  end
end

-- Writes an experiment file from Lua source into a fresh temp dir; returns its path and dir.
function H.experiment(src, name)
  local d = H.tmpdir()
  local path = d .. "/" .. (name or "exp.lua")
  H.write(path, src)
  return path, d
end

-- A Lua string literal for a path or any string, to splice into experiment sources.
function H.lit(s)
  return string.format("%q", s)
end

-- A unique marker for command lines (pgrep) and file names.
local counter = 0
function H.marker(prefix)
  counter = counter + 1
  return string.format("%s%d%d%d", prefix or "tle2e", os.time() % 100000,
    math.random(100000, 999999), counter)
end

local function build_cmd(args, opts)
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = sh_quote(a) end
  local env = ""
  if opts.env then
    env = "env "
    for k, v in pairs(opts.env) do env = env .. k .. "=" .. sh_quote(v) .. " " end
  end
  local prefix = opts.no_wrap and "" or (H.wrap ~= "" and (H.wrap .. " ") or "")
  return env .. prefix .. sh_quote(opts.bin or H.bin) .. " " .. table.concat(parts, " ")
end

-- Runs tunelua with args (a list) from the repo root; returns {code, stdout, stderr, secs}.
-- opts.env: extra environment; opts.timeout: seconds; opts.no_wrap: skip TUNELUA_WRAP.
function H.run(args, opts)
  opts = opts or {}
  local d = H.tmpdir()
  local out, err = d .. "/stdout", d .. "/stderr"
  local cmd = string.format("cd %s && timeout -k 5 %d %s >%s 2>%s </dev/null; echo $?",
    sh_quote(opts.cwd or H.root), opts.timeout or H.timeout, build_cmd(args, opts),
    sh_quote(out), sh_quote(err))
  local t0 = H.now()
  local p = io.popen(cmd)
  local status = p:read("*a")
  p:close()
  local r = {
    code = tonumber(status:match("(%d+)%s*$")),
    stdout = H.read(out) or "",
    stderr = H.read(err) or "",
    secs = H.now() - t0,
  }
  return r
end

-- A readable description of a run, for assertion messages.
function H.describe(r)
  return string.format("exit %s\n--- stdout ---\n%s\n--- stderr ---\n%s",
    tostring(r.code), r.stdout, r.stderr)
end

function H.now()
  local p = io.popen("date +%s.%N")
  local s = p:read("*l")
  p:close()
  return tonumber(s)
end

function H.sleep(s)
  os.execute("sleep " .. s)
end

-- Polls fn() every 0.1 s until it returns a true value or `secs` pass; returns that value.
function H.wait_for(fn, secs)
  local deadline = H.now() + secs
  repeat
    local ok, v = pcall(fn)
    if ok and v then return v end
    H.sleep(0.1)
  until H.now() > deadline
  return nil
end

-- Starts tunelua in the background (SIGINT not ignored, unlike `cmd &` in sh); returns a
-- handle {pid=, wait=function(secs) -> code or nil, stdout=path, stderr=path}.
function H.spawn(args, opts)
  opts = opts or {}
  local d = H.tmpdir()
  local h = {
    pidfile = d .. "/pid", rcfile = d .. "/rc", stdout = d .. "/stdout", stderr = d .. "/stderr",
  }
  local launcher = H.trainers .. "/launch.py"
  local cmd = string.format("cd %s && %s python3 %s %s %s %s %s %d -- %s </dev/null "
    .. ">/dev/null 2>&1 &", sh_quote(H.root), "", sh_quote(launcher), sh_quote(h.pidfile),
    sh_quote(h.rcfile), sh_quote(h.stdout), sh_quote(h.stderr), opts.timeout or H.timeout,
    build_cmd(args, opts))
  os.execute(cmd)
  local pid = H.wait_for(function()
    local s = H.read(h.pidfile)
    return s and tonumber(s:match("%d+"))
  end, 10)
  assert(pid, "the background tunelua did not start")
  h.pid = pid
  function h.kill(sig)
    return H.sh("kill -" .. sig .. " " .. pid)
  end
  function h.wait(secs)
    return H.wait_for(function()
      local s = H.read(h.rcfile)
      return s and tonumber(s:match("%-?%d+"))
    end, secs)
  end
  return h
end

-- Is the process alive (and not a zombie)?
function H.alive(pid)
  local stat = H.read("/proc/" .. tostring(pid) .. "/stat")
  if not stat then return false end
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z"
end

-- Processes whose command line contains marker (a fixed string).
function H.pgrep(marker)
  -- [x]yz: the pattern does not match the pgrep (or sh) command line that carries it
  local pat = "[" .. marker:sub(1, 1) .. "]" .. marker:sub(2)
  local out = H.capture("pgrep -f " .. sh_quote(pat) .. " 2>/dev/null")
  local pids = {}
  for pid in out:gmatch("%d+") do pids[#pids + 1] = tonumber(pid) end
  return pids
end

-- Kills processes left by a failed test (by marker), so that one failure does not cascade.
function H.reap(marker)
  for _, pid in ipairs(H.pgrep(marker)) do os.execute("kill -9 " .. pid .. " 2>/dev/null") end
end

-- Sets of files under dir, as relative paths ("a/b"), directories with a trailing "/".
function H.tree(dir)
  local out = {}
  local s = H.capture("cd " .. sh_quote(dir) .. " && find . -mindepth 1 \\( -type d -printf "
    .. "'%P/\\n' \\) -o \\( -printf '%P\\n' \\)")
  for line in s:gmatch("[^\n]+") do out[line] = true end
  return out
end

-- Parses a simple CSV (quotes with "" escapes) into a list of rows (lists of strings).
function H.csv(path)
  local rows = {}
  for _, line in ipairs(H.lines(path)) do
    local row, i, n = {}, 1, #line
    while i <= n + 1 do
      if line:sub(i, i) == '"' then
        local buf, j = {}, i + 1
        while j <= n do
          local c = line:sub(j, j)
          if c == '"' and line:sub(j + 1, j + 1) == '"' then
            buf[#buf + 1] = '"'
            j = j + 2
          elseif c == '"' then
            j = j + 1
            break
          else
            buf[#buf + 1] = c
            j = j + 1
          end
        end
        row[#row + 1] = table.concat(buf)
        i = j + 1
      else
        local j = line:find(",", i, true) or (n + 1)
        row[#row + 1] = line:sub(i, j - 1)
        i = j + 1
      end
    end
    rows[#rows + 1] = row
  end
  return rows
end

-- Experiment source from pieces: H.exp_src{ name=, cmd=LUA, config=LUA, extra=LUA }.
function H.exp_src(o)
  return table.concat({
    'local tune = require "tunelua"',
    "return tune.experiment {",
    "  name = " .. H.lit(o.name or "e2e") .. ",",
    "  trainer = { cmd = " .. o.cmd .. (o.trainer_extra and (", " .. o.trainer_extra) or "")
      .. " },",
    "  config = " .. (o.config or "{}") .. ",",
    o.extra or "",
    "}",
    "",
  }, "\n")
end

-- The Lua source of a trainer.cmd list running a shell script in spec/e2e/trainers.
function H.sh_trainer(script, ...)
  local parts = { '"sh"', H.lit(H.trainers .. "/" .. script) }
  for _, a in ipairs { ... } do parts[#parts + 1] = H.lit(a) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

function H.py_trainer(script, ...)
  local parts = { '"python3"', H.lit(H.trainers .. "/" .. script) }
  for _, a in ipairs { ... } do parts[#parts + 1] = H.lit(a) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

function H.count(list, pred)
  local n = 0
  for _, v in ipairs(list) do if pred(v) then n = n + 1 end end
  return n
end

math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)

return H

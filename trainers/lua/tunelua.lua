-- tunelua client for LuaJIT trainers (protocol version 1, docs/protocol.md).
--
--   local tune = require "tunelua"          -- the engine puts trainers/lua on LUA_PATH
--   tune.run(function()
--     local config = tune.params()          -- connects on first use
--     for step = tune.iteration() + 1, 100 do
--       local loss = train(config)
--       if tune.report { loss = loss, step = step } ~= "continue" then  -- stop/pause + checkpoint
--         ...
--       end
--       if tune.should_checkpoint() then
--         local d = tune.checkpoint_dir(); save(d); tune.record_checkpoint(d)
--       end
--     end
--   end)
--
-- Sockets go through the LuaJIT FFI (libc socket/connect/read/write); JSON is encoded
-- and decoded here in pure Lua. One blocking connection, one report outstanding.
--
-- Stop and pause: without a checkpoint request, report() raises tune.TrialStopped at
-- once. When the decision also asks for a checkpoint, report() returns the action
-- ("stop" or "pause") and should_checkpoint() is true; record_checkpoint() then raises
-- TrialStopped once the engine has recorded the checkpoint, and so does the next
-- report() (which sends nothing) if the script does not checkpoint. tune.run(fn) turns
-- TrialStopped into exit status 0, any other error into an `error` message to the engine
-- and exit status 1, and a normal return into `done` and exit 0.
--
-- Run by hand: without TUNELUA_CONNECT and with TUNELUA_PARAMS='{"lr":0.01}' params() is
-- that object, report() prints `[tunelua] report {...}` and returns "continue";
-- TUNELUA_RESTORE and TUNELUA_SHARED stand in for the engine's restore and shared.
--
-- Decoded JSON: null is nil in objects and tune.null in arrays (so indexes hold).
-- Encoded: a table with keys 1..n (n >= 1) is an array, any other table an object
-- (keys as strings); NaN and +-inf become null.
local ffi = require "ffi"

local M = {}
local C = ffi.C

ffi.cdef [[
typedef unsigned int socklen_t;
struct tl_sockaddr_un { unsigned short sun_family; char sun_path[108]; };
struct tl_addrinfo {
  int ai_flags, ai_family, ai_socktype, ai_protocol;
  socklen_t ai_addrlen;
  void *ai_addr;
  char *ai_canonname;
  struct tl_addrinfo *ai_next;
};
int socket(int domain, int type, int protocol);
int connect(int fd, const void *addr, socklen_t len);
long read(int fd, void *buf, size_t n);
long send(int fd, const void *buf, size_t n, int flags);
int close(int fd);
int getpid(void);
int getsid(int pid);
int mkdir(const char *path, unsigned int mode);
char *realpath(const char *path, char *resolved);
void free(void *p);
char *strerror(int errnum);
int getaddrinfo(const char *node, const char *service, const struct tl_addrinfo *hints,
                struct tl_addrinfo **res);
void freeaddrinfo(struct tl_addrinfo *res);
const char *gai_strerror(int errcode);
char *getcwd(char *buf, size_t size);
]]

local AF_UNIX, AF_UNSPEC, SOCK_STREAM = 1, 0, 1
local MSG_NOSIGNAL = 0x4000
local EINTR, EEXIST = 4, 17
local MAX_MSG = 1048576

local byte, char, concat, fmt = string.byte, string.char, table.concat, string.format
local floor, huge = math.floor, math.huge
local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local getenv = os.getenv

M.PROTOCOL = 1
M.null = setmetatable({}, { __tostring = function() return "null" end })

-- Errors -----------------------------------------------------------------------------

-- The error object report() and record_checkpoint() raise on stop/pause.
local TrialStopped = {}
TrialStopped.__index = TrialStopped
TrialStopped.__tostring = function(e)
  return fmt("trial %s by the tunelua engine (iteration %s)",
    e.action == "pause" and "paused" or "stopped", tostring(e.iteration))
end
M.TrialStopped = TrialStopped

function M.is_stopped(err)
  return type(err) == "table" and getmetatable(err) == TrialStopped
end

local function stopped(d, path)
  return setmetatable({ action = d.action, iteration = d.iteration, checkpoint = d.checkpoint,
    checkpoint_path = path }, TrialStopped)
end

-- JSON -------------------------------------------------------------------------------

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function utf8_len(s, i)
  local c = byte(s, i)
  if c < 0x80 then return 1 end
  local b1, b2, b3 = byte(s, i + 1), byte(s, i + 2), byte(s, i + 3)
  local function cont(b) return b and b >= 0x80 and b <= 0xBF end
  if c >= 0xC2 and c <= 0xDF then return cont(b1) and 2 or 0 end
  if c >= 0xE0 and c <= 0xEF then
    local lo, hi = c == 0xE0 and 0xA0 or 0x80, c == 0xED and 0x9F or 0xBF
    return b1 and b1 >= lo and b1 <= hi and cont(b2) and 3 or 0
  end
  if c >= 0xF0 and c <= 0xF4 then
    local lo, hi = c == 0xF0 and 0x90 or 0x80, c == 0xF4 and 0x8F or 0xBF
    return b1 and b1 >= lo and b1 <= hi and cont(b2) and cont(b3) and 4 or 0
  end
  return 0
end

-- A quoted JSON string; control characters escaped, invalid UTF-8 bytes as U+FFFD.
local function encode_string(s)
  if not s:find('[%z\1-\31"\\\127-\255]') then return '"' .. s .. '"' end
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    local b = byte(c)
    if escapes[c] then
      out[#out + 1] = escapes[c]
      i = i + 1
    elseif b < 0x20 or b == 0x7F then
      out[#out + 1] = fmt("\\u%04x", b)
      i = i + 1
    else
      local len = utf8_len(s, i)
      if len == 0 then
        out[#out + 1] = "\\ufffd"
        i = i + 1
      else
        out[#out + 1] = s:sub(i, i + len - 1)
        i = i + len
      end
    end
  end
  return '"' .. concat(out) .. '"'
end

local function encode_number(x)
  if x ~= x or x == huge or x == -huge then return "null" end
  if x == floor(x) and x >= -2^53 and x <= 2^53 then return fmt("%d", x) end
  for prec = 15, 17 do
    local s = fmt("%." .. prec .. "g", x)
    if tonumber(s) == x then return s end
  end
  return fmt("%.17g", x)
end

local encode_value

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= floor(k) then return false end
    count = count + 1
  end
  return count == n
end

encode_value = function(v, path, depth, out)
  local tv = type(v)
  if v == nil or v == M.null then
    out[#out + 1] = "null"
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif tv == "number" then
    out[#out + 1] = encode_number(v)
  elseif tv == "string" then
    out[#out + 1] = encode_string(v)
  elseif tv == "cdata" and tonumber(v) then -- int64_t, double cdata
    if ffi.istype("int64_t", v) or ffi.istype("uint64_t", v) then
      out[#out + 1] = (tostring(v):gsub("U?LL$", ""))
    else
      out[#out + 1] = encode_number(tonumber(v))
    end
  elseif tv == "table" then
    if depth > 100 then error("tunelua: " .. path .. " is nested too deeply (a cycle?)", 0) end
    if is_array(v) then
      out[#out + 1] = "["
      for i, x in ipairs(v) do
        if i > 1 then out[#out + 1] = "," end
        encode_value(x, path .. "[" .. i .. "]", depth + 1, out)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      local strv = {}
      for k, x in pairs(v) do strv[tostring(k)] = x end
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode_value(strv[k], path .. "." .. k, depth + 1, out)
      end
      out[#out + 1] = "}"
    end
  else
    error(fmt("tunelua: %s has type %s, which cannot be sent as JSON", path, tv), 0)
  end
end

-- Encodes a Lua value as compact JSON text; `path` names it in error messages.
function M.encode(v, path)
  local out = {}
  encode_value(v, path or "value", 0, out)
  return concat(out)
end

local function utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64,
    0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

local decode_value

local function decode_error(_, i, what)
  error(fmt("tunelua: malformed JSON at byte %d: %s", i, what), 0)
end

local function skip_ws(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local unescape = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
  r = "\r", t = "\t" }

local function decode_string(s, i)
  local out, j = {}, i + 1
  while true do
    local k = s:find('["\\%z\1-\31]', j)
    if not k then decode_error(s, i, "unterminated string") end
    out[#out + 1] = s:sub(j, k - 1)
    local c = s:sub(k, k)
    if c == '"' then return concat(out), k + 1 end
    if c ~= "\\" then decode_error(s, k, "control character in a string") end
    local e = s:sub(k + 1, k + 1)
    if e == "u" then
      local hex = s:match("^%x%x%x%x", k + 2)
      if not hex then decode_error(s, k, "bad \\u escape") end
      local cp = tonumber(hex, 16)
      j = k + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = s:match("^\\u(%x%x%x%x)", j)
        lo = lo and tonumber(lo, 16)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
          j = j + 6
        end
      end
      if cp >= 0xD800 and cp <= 0xDFFF then cp = 0xFFFD end
      out[#out + 1] = utf8_char(cp)
    elseif unescape[e] then
      out[#out + 1] = unescape[e]
      j = k + 2
    else
      decode_error(s, k, "bad escape")
    end
  end
end

decode_value = function(s, i, depth)
  i = skip_ws(s, i)
  if depth > 200 then decode_error(s, i, "nested too deeply") end
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = skip_ws(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      if s:sub(i, i) ~= '"' then decode_error(s, i, "expected a key") end
      local k
      k, i = decode_string(s, i)
      i = skip_ws(s, i)
      if s:sub(i, i) ~= ":" then decode_error(s, i, "expected ':'") end
      local v
      v, i = decode_value(s, i + 1, depth + 1)
      if v ~= M.null then obj[k] = v end
      i = skip_ws(s, i)
      c = s:sub(i, i)
      if c == "}" then return obj, i + 1 end
      if c ~= "," then decode_error(s, i, "expected ',' or '}'") end
      i = skip_ws(s, i + 1)
    end
  elseif c == "[" then
    local arr, n = {}, 0
    i = skip_ws(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
      local v
      v, i = decode_value(s, i, depth + 1)
      n = n + 1
      arr[n] = v
      i = skip_ws(s, i)
      c = s:sub(i, i)
      if c == "]" then return arr, i + 1 end
      if c ~= "," then decode_error(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return M.null, i + 4
  else
    local j = i + (c == "-" and 1 or 0)
    local int = s:match("^%d+", j)
    if not int or (#int > 1 and int:sub(1, 1) == "0") then
      decode_error(s, i, "unexpected " .. (c == "" and "end" or c))
    end
    j = j + #int
    local frac = s:match("^%.%d+", j)
    if frac then
      j = j + #frac
    elseif s:sub(j, j) == "." then
      decode_error(s, j, "bad number")
    end
    local ex = s:match("^[eE][-+]?%d+", j)
    if ex then
      j = j + #ex
    elseif s:match("^[eE]", j) then
      decode_error(s, j, "bad number")
    end
    return tonumber(s:sub(i, j - 1)), j
  end
end

-- Decodes JSON text into Lua values (see the top of the file for null).
function M.decode(s)
  local v, i = decode_value(s, 1, 0)
  i = skip_ws(s, i)
  if i <= #s then decode_error(s, i, "trailing characters") end
  if v == M.null then return nil end
  return v
end

-- Transport --------------------------------------------------------------------------

local function errno_text()
  return ffi.string(C.strerror(ffi.errno()))
end

local function connect_unix(path)
  local sa = ffi.new("struct tl_sockaddr_un")
  if #path == 0 or #path >= 108 then return nil, "bad socket path " .. path end
  sa.sun_family = AF_UNIX
  ffi.copy(sa.sun_path, path)
  local fd = C.socket(AF_UNIX, SOCK_STREAM, 0)
  if fd < 0 then return nil, errno_text() end
  if C.connect(fd, sa, ffi.sizeof(sa)) ~= 0 then
    local e = errno_text()
    C.close(fd)
    return nil, e
  end
  return fd
end

local function connect_tcp(where)
  local host, port = where:match("^(.+):(%d+)$")
  if not host then return nil, "not tcp:HOST:PORT" end
  host = host:match("^%[(.*)%]$") or host
  local hints = ffi.new("struct tl_addrinfo")
  hints.ai_family, hints.ai_socktype = AF_UNSPEC, SOCK_STREAM
  local res = ffi.new("struct tl_addrinfo *[1]")
  local rc = C.getaddrinfo(host, port, hints, res)
  if rc ~= 0 then return nil, ffi.string(C.gai_strerror(rc)) end
  local ai, fd, err = res[0], -1, "no address"
  while ai ~= nil do
    fd = C.socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol)
    if fd >= 0 and C.connect(fd, ai.ai_addr, ai.ai_addrlen) == 0 then break end
    err = errno_text()
    if fd >= 0 then C.close(fd) end
    fd = -1
    ai = ai.ai_next
  end
  C.freeaddrinfo(res[0])
  if fd < 0 then return nil, err end
  return fd
end

local Conn = {}
Conn.__index = Conn

local function open_conn(address)
  local fd, err
  if address:sub(1, 5) == "unix:" then
    fd, err = connect_unix(address:sub(6))
  elseif address:sub(1, 4) == "tcp:" then
    fd, err = connect_tcp(address:sub(5))
  else
    return nil, "TUNELUA_CONNECT=" .. address .. " must start with unix: or tcp:"
  end
  if not fd then
    return nil, "cannot connect to the tunelua engine at " .. address .. ": " .. err
  end
  return setmetatable({ fd = fd, buf = "", chunk = ffi.new("char[?]", 65536) }, Conn)
end

function Conn:send(line)
  local p, n = ffi.cast("const char *", line), #line
  local off = 0
  while off < n do
    local w = C.send(self.fd, p + off, n - off, MSG_NOSIGNAL)
    if w < 0 and ffi.errno() == EINTR then
      w = 0
    elseif w <= 0 then
      return nil, "lost the connection to the tunelua engine: " .. errno_text()
    end
    off = off + tonumber(w)
  end
  return true
end

function Conn:recv()
  while true do
    local nl = self.buf:find("\n", 1, true)
    if nl then
      local line = self.buf:sub(1, nl - 1)
      self.buf = self.buf:sub(nl + 1)
      return line
    end
    if #self.buf > MAX_MSG then return nil, "message from the engine is longer than 1 MiB" end
    local r = C.read(self.fd, self.chunk, 65536)
    if r < 0 and ffi.errno() == EINTR then
      r = -2
    elseif r <= 0 then
      return nil, "the tunelua engine closed the connection"
    end
    if r > 0 then self.buf = self.buf .. ffi.string(self.chunk, r) end
  end
end

function Conn:close()
  if self.fd >= 0 then C.close(self.fd) end
  self.fd = -1
end

-- Session ----------------------------------------------------------------------------

-- States: "new" -> "ready" -> "stopping" (stop/pause asked for a checkpoint; the
-- connection stays open for it) -> "stopped" | "done" | "failed" | "closed"; "alone"
-- when run by hand with TUNELUA_PARAMS.
local S = { state = "new", iteration = 0, ckpt_n = 0 }

local function protocol_error(msg)
  error("tunelua: " .. msg, 0)
end

local function close_session()
  if S.conn then S.conn:close() end
  S.conn = nil
  if S.state == "ready" or S.state == "stopping" then S.state = "closed" end
end

local function send(msg)
  local line = (type(msg) == "string" and msg or M.encode(msg, "message")) .. "\n"
  if #line > MAX_MSG then
    protocol_error(fmt("a message of %d bytes is more than the protocol's %d", #line, MAX_MSG))
  end
  local ok, err = S.conn:send(line)
  if not ok then
    -- with the welcome still owed, the engine may have refused the hello and closed: its
    -- error message, still in the socket, says why
    local reply = S.owed and S.conn:recv()
    local dok, m = pcall(M.decode, reply or "")
    if dok and type(m) == "table" and m.type == "error" and m.message then
      err = tostring(m.message)
    end
    close_session()
    protocol_error(err)
  end
end

-- Whether two decoded JSON values are equal. (The engine's lua/tunelua/tables.lua has the
-- same; this file stands alone, as trainers get only trainers/lua on their LUA_PATH.)
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function restore_of(w)
  return type(w.restore) == "string" and w.restore ~= "" and w.restore or nil
end

-- The next message (a decoded table); an engine `error` becomes a raised
-- "tunelua: <message>". A welcome still owed (see start) is read and checked first.
local function recv()
  local reply, err = S.conn:recv()
  if not reply then
    close_session()
    protocol_error(err)
  end
  local dok, m = pcall(M.decode, reply)
  if not dok or type(m) ~= "table" or type(m.type) ~= "string" then
    close_session()
    protocol_error("malformed message from the engine: " .. reply:sub(1, 200))
  end
  if m.type == "error" then
    close_session()
    protocol_error(tostring(m.message or "the engine reported an error"))
  end
  if S.owed then -- its config and restore must be those this process started on; its
    -- iteration is taken (another process of the trial may have reported in between)
    S.owed = false
    if m.type ~= "welcome" or not same(m.config, S.config) or restore_of(m) ~= S.restore then
      close_session()
      protocol_error("the engine's welcome differs from TUNELUA_WELCOME, which this process "
        .. "started on: " .. reply:sub(1, 200))
    end
    S.iteration = type(m.iteration) == "number" and m.iteration or S.iteration
    return recv()
  end
  return m
end

-- Sends a message and waits for the reply.
local function exchange(msg)
  send(msg)
  return recv()
end

-- The welcome in TUNELUA_WELCOME, or nil when there is none to trust: only the process the
-- engine started (a session leader) takes it; a child of it may come after other reports.
local function early_welcome()
  local raw = C.getsid(0) == C.getpid() and getenv("TUNELUA_WELCOME")
  local ok, w = pcall(M.decode, raw or "")
  if ok and type(w) == "table" and w.type == "welcome" and type(w.config) == "table" then
    return w
  end
end

local function json_env(name)
  local raw = getenv(name)
  if not raw or raw == "" then return nil end
  local ok, v = pcall(M.decode, raw)
  if not ok or type(v) ~= "table" then error("tunelua: " .. name .. " must be a JSON object", 0) end
  return v
end

-- Starts the session on first use; a failure is remembered and raised again.
local function start()
  if S.failure then error(S.failure, 0) end
  if S.state ~= "new" then return S end
  local address = getenv("TUNELUA_CONNECT")
  local ok, err = pcall(function()
    if address and address ~= "" then
      local conn, cerr = open_conn(address)
      if not conn then protocol_error(cerr) end
      S.conn, S.state = conn, "ready"
      S.trial = getenv("TUNELUA_TRIAL_ID") or ""
      local hello = { type = "hello", protocol = M.PROTOCOL, trial = S.trial,
        token = getenv("TUNELUA_TOKEN") or "", pid = C.getpid(), api = "function" }
      -- the engine put the welcome it is about to send in TUNELUA_WELCOME: start on
      -- that copy, and read and check the one on the socket before the first decision
      local w = early_welcome()
      if w then
        send(hello)
        S.owed = true
      else
        w = exchange(hello)
      end
      if w.type ~= "welcome" or type(w.config) ~= "table" then
        close_session()
        protocol_error("expected a welcome with a config from the engine, got " .. w.type)
      end
      S.config = w.config
      S.restore = restore_of(w)
      S.iteration = type(w.iteration) == "number" and w.iteration or 0
      S.trial = type(w.trial) == "string" and w.trial or S.trial
      S.dir = getenv("TUNELUA_TRIAL_DIR") or w.trial_dir
      S.shared = type(w.shared) == "table" and w.shared or {}
    elseif getenv("TUNELUA_PARAMS") then
      S.config = json_env("TUNELUA_PARAMS") or
        error("tunelua: TUNELUA_PARAMS must be a JSON object", 0)
      S.state = "alone"
      S.trial = getenv("TUNELUA_TRIAL_ID") or "standalone"
      S.restore = getenv("TUNELUA_RESTORE")
      if S.restore == "" then S.restore = nil end
      S.shared = json_env("TUNELUA_SHARED") or {}
    else
      error("tunelua: this trainer is meant to be run by the tunelua engine (`tunelua "
        .. "EXPERIMENT.lua`), which sets TUNELUA_CONNECT; to run it by hand, give its config "
        .. "as JSON in TUNELUA_PARAMS, e.g. TUNELUA_PARAMS='{\"lr\": 0.01}' luajit "
        .. (arg and arg[0] or "trainer.lua"), 0)
    end
  end)
  if not ok then
    S.failure = tostring(err)
    if S.state == "new" then S.state = "closed" end
    error(S.failure, 0)
  end
  return S
end

-- Function API -----------------------------------------------------------------------

-- This trial's configuration (a table); connects on first use.
function M.params()
  return start().config
end

-- Reports one result (a table of metrics) and returns the decision's action:
-- "continue", or "stop"/"pause" when the engine also asked for a checkpoint (without
-- one, stop and pause raise TrialStopped).
function M.report(metrics)
  if type(metrics) ~= "table" then
    error("tunelua.report takes a table of metrics, got " .. type(metrics), 2)
  end
  start()
  local body = M.encode(metrics, "metrics")
  if body:sub(1, 1) ~= "{" then
    error("tunelua.report: metrics must be a table with string keys", 2)
  end
  if S.state == "alone" then
    S.iteration = S.iteration + 1
    local line = body == "{}" and "{" or body:sub(1, -2) .. ","
    io.stdout:write("[tunelua] report ", line, '"training_iteration":', S.iteration, "}\n")
    io.stdout:flush()
    S.last = { action = "continue", checkpoint = false, iteration = S.iteration }
    return "continue"
  end
  if S.state == "stopping" then -- the script went on without checkpointing
    close_session()
    S.state = "stopped"
    error(stopped(S.last), 0)
  end
  if S.state == "stopped" then error(stopped(S.last), 0) end
  if S.state ~= "ready" then protocol_error("cannot report, the session is " .. S.state) end
  local d = exchange('{"type":"report","metrics":' .. body .. "}")
  if d.type ~= "decision" or (d.action ~= "continue" and d.action ~= "stop" and
      d.action ~= "pause") then
    close_session()
    protocol_error("expected a decision from the engine, got " .. tostring(d.action or d.type))
  end
  S.iteration = type(d.iteration) == "number" and d.iteration or S.iteration + 1
  S.last = { action = d.action, checkpoint = d.checkpoint == true, iteration = S.iteration }
  S.pending = S.last.checkpoint
  if d.action ~= "continue" then
    if S.last.checkpoint then
      S.state = "stopping"
    else
      close_session()
      S.state = "stopped"
      error(stopped(S.last), 0)
    end
  end
  return d.action
end

-- Whether the last decision asked for a checkpoint not recorded since.
function M.should_checkpoint()
  return S.pending == true
end

function M.trial_id()
  local id = getenv("TUNELUA_TRIAL_ID")
  if id and id ~= "" then return id end
  return start().trial
end

function M.trial_dir()
  local d = getenv("TUNELUA_TRIAL_DIR")
  if d and d ~= "" then return d end
  if S.dir then return S.dir end
  if getenv("TUNELUA_CONNECT") then
    start()
    if S.dir then return S.dir end
  end
  local buf = ffi.new("char[4096]")
  return C.getcwd(buf, 4096) ~= nil and ffi.string(buf) or "."
end

-- Results reported so far over all the trial's runs.
function M.iteration()
  return start().iteration
end

-- The checkpoint directory this run restores from, or nil for a fresh start.
function M.restore_dir()
  return start().restore
end

-- The path of the experiment's shared object `name`, or nil.
function M.shared(name)
  return start().shared[name]
end

-- Makes a fresh TUNELUA_TRIAL_DIR/checkpoints/tmp-<iter>-<pid>-<n> and returns it.
function M.checkpoint_dir()
  start()
  local base = M.trial_dir() .. "/checkpoints"
  if C.mkdir(base, 511) ~= 0 and ffi.errno() ~= EEXIST then
    error("tunelua: cannot make " .. base .. ": " .. errno_text(), 2)
  end
  for _ = 1, 1000 do
    S.ckpt_n = S.ckpt_n + 1
    local d = fmt("%s/tmp-%d-%d-%d", base, S.iteration, C.getpid(), S.ckpt_n)
    if C.mkdir(d, 511) == 0 then return d end
    if ffi.errno() ~= EEXIST then error("tunelua: cannot make " .. d .. ": " .. errno_text(), 2) end
  end
  error("tunelua: cannot make a checkpoint directory in " .. base, 2)
end

local function abspath(d)
  local p = C.realpath(d, nil)
  if p == nil then return nil end
  local s = ffi.string(p)
  C.free(p)
  return s
end

-- Records a saved checkpoint directory with the engine; returns its final path. After
-- a stop/pause that asked for it, raises TrialStopped (with .checkpoint_path) instead.
function M.record_checkpoint(d)
  if type(d) ~= "string" then error("tunelua.record_checkpoint takes a directory path", 2) end
  start()
  local path = abspath(d)
  if not path then error("tunelua: checkpoint " .. d .. " is not an existing directory", 2) end
  if S.state == "alone" then
    S.pending = false
    return path
  end
  if S.state == "stopped" then error(stopped(S.last), 0) end
  if S.state ~= "ready" and S.state ~= "stopping" then
    protocol_error("cannot record a checkpoint, the session is " .. S.state)
  end
  local r = exchange { type = "checkpoint", path = path }
  if r.type ~= "checkpoint_ok" or type(r.path) ~= "string" then
    close_session()
    protocol_error("expected checkpoint_ok from the engine, got " .. r.type)
  end
  S.pending = false
  if S.state == "stopping" then
    close_session()
    S.state = "stopped"
    error(stopped(S.last, r.path), 0)
  end
  return r.path
end

-- The trainer finished by itself: sends done and closes.
function M.done()
  if S.state == "ready" and S.conn then
    S.conn:send('{"type":"done"}\n')
    close_session()
    S.state = "done"
  else
    close_session()
  end
end

-- The training code failed: sends an error with the message and closes (best effort).
function M.fail(message)
  if S.state == "ready" and S.conn then
    local text = tostring(message):sub(1, 16384)
    pcall(function() S.conn:send(M.encode({ type = "error", message = text }) .. "\n") end)
    close_session()
    S.state = "failed"
  else
    close_session()
  end
end

-- Runs fn(...) as the trainer's body and exits: TrialStopped -> 0, a normal return ->
-- done and 0, any other error -> the engine gets it, the traceback goes to stderr, 1.
function M.run(fn, ...)
  local args = { n = select("#", ...), ... }
  local ok, err = xpcall(function() return fn(unpack(args, 1, args.n)) end, function(e)
    if M.is_stopped(e) then return e end
    return { message = tostring(e), trace = debug.traceback(tostring(e), 2) }
  end)
  if ok then
    M.done()
    os.exit(0)
  end
  if M.is_stopped(err) then
    close_session()
    os.exit(0)
  end
  M.fail(err.message)
  -- the client's own errors ("tunelua: ...") say what to do; others get their traceback
  io.stderr:write(err.message:match("^tunelua: ") and err.message or err.trace, "\n")
  io.stderr:flush()
  os.exit(1)
end

return M

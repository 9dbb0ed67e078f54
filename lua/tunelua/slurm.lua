-- The Slurm executor's settings: tune.slurm { partition =, account =, time =, extra_args =,
-- address = } in an experiment's `executor` field. Checked here, so that a typo is an
-- experiment error naming the field; the engine (engine/exec_slurm.c) turns them into srun
-- arguments and the address trainers connect back to.
local type, pairs, ipairs, tostring, format = type, pairs, ipairs, tostring, string.format
local floor = math.floor

local M = {}
local Slurm = {}
M.Slurm = Slurm

local fields = { partition = true, account = true, time = true, extra_args = true,
  address = true, qos = true }

-- Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
local time_patterns = { "^%d+$", "^%d+:%d%d?$", "^%d+:%d%d?:%d%d?$", "^%d+%-%d+$",
  "^%d+%-%d+:%d%d?$", "^%d+%-%d+:%d%d?:%d%d?$" }

local function slurm_time(v)
  if type(v) == "number" then
    if v > 0 and v == floor(v) then return tostring(v) end
    return nil
  end
  if type(v) ~= "string" then return nil end
  for _, p in ipairs(time_patterns) do
    if v:match(p) then return v end
  end
  return nil
end

-- "HOST" or "HOST:PORT" (IPv4 or a name; [v6]:PORT); nil, why.
function M.parse_address(a)
  if type(a) ~= "string" or a == "" then return nil, "a string \"HOST\" or \"HOST:PORT\"" end
  local host, port = a:match("^%[([%x:.]+)%]:(%d+)$")
  if not host then host, port = a:match("^([%w_.-]+):(%d+)$") end
  if not host then host = a:match("^([%w_.-]+)$") or a:match("^%[([%x:.]+)%]$") end
  if not host then return nil, "a string \"HOST\" or \"HOST:PORT\"" end
  port = port and tonumber(port)
  if port and (port < 1 or port > 65535) then return nil, "a port from 1 to 65535" end
  return host, port
end

-- Checks a settings table; returns the settings object or nil, why (naming the field).
function M.check(spec)
  if type(spec) ~= "table" then
    return nil, format("tune.slurm expects a table { partition =, account =, time =, " ..
      "extra_args =, address = }, got %s", type(spec))
  end
  for k in pairs(spec) do
    if not fields[k] then
      return nil, format("unknown field 'tune.slurm.%s' (partition, account, qos, time, " ..
        "extra_args, address)", tostring(k))
    end
  end
  local s = setmetatable({}, Slurm)
  for _, k in ipairs { "partition", "account", "qos" } do
    local v = spec[k]
    if v ~= nil and (type(v) ~= "string" or not v:match("^[%w_.,-]+$")) then
      return nil, format("tune.slurm.%s must be a name (letters, digits, '_', '-', '.'), got %s",
        k, tostring(v))
    end
    s[k] = v
  end
  if spec.time ~= nil then
    s.time = slurm_time(spec.time)
    if not s.time then
      return nil, format("tune.slurm.time must be minutes or a Slurm time (\"MM:SS\", " ..
        "\"HH:MM:SS\", \"D-HH:MM\"), got %s", tostring(spec.time))
    end
  end
  s.extra_args = {}
  if spec.extra_args ~= nil then
    if type(spec.extra_args) ~= "table" then
      return nil, "tune.slurm.extra_args must be a list of srun arguments (strings)"
    end
    local n = #spec.extra_args
    for k in pairs(spec.extra_args) do
      if type(k) ~= "number" or k < 1 or k > n or k ~= floor(k) then
        return nil, "tune.slurm.extra_args must be a list of srun arguments (strings)"
      end
    end
    for i, a in ipairs(spec.extra_args) do
      if type(a) ~= "string" and type(a) ~= "number" then
        return nil, format("tune.slurm.extra_args[%d] must be a string, got %s", i, type(a))
      end
      s.extra_args[i] = tostring(a)
    end
  end
  if spec.address ~= nil then
    local host, why = M.parse_address(spec.address)
    if not host then
      return nil, format("tune.slurm.address must be %s, got %s", why, tostring(spec.address))
    end
    s.address = spec.address
  end
  return s
end

-- The srun arguments every trial gets from the settings (before its resources).
function M.args(s)
  local out = {}
  if s.partition then out[#out + 1] = "--partition=" .. s.partition end
  if s.account then out[#out + 1] = "--account=" .. s.account end
  if s.qos then out[#out + 1] = "--qos=" .. s.qos end
  if s.time then out[#out + 1] = "--time=" .. s.time end
  for _, a in ipairs(s.extra_args) do out[#out + 1] = a end
  return out
end

function M.is_slurm(v)
  return getmetatable(v) == Slurm
end

-- tune.slurm { ... }: raises at the caller's line.
function M.new(spec)
  local s, why = M.check(spec)
  if not s then error(why, 2) end
  return s
end

return M

-- Per-trial resource requests: checks `trainer.resources` (a table, or what a
-- function(config) returned) and normalises it for the engine. Capacities and placement live
-- in the engine (engine/resources.c); exp.fits(view) asks it through the FFI.
local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local format, floor = string.format, math.floor
local sort = table.sort

local M = {}

local fields = { cpu = true, gpu = true, mem = true, custom = true, nodes = true }
local units = { K = 1, M = 2, G = 3, T = 4, P = 5, E = 6 }

-- Bytes from a number (bytes) or a string "4G", "512M", "1.5 GiB", "800" (powers of 1024, as
-- in Slurm and Docker). nil, why when it is neither.
function M.parse_size(v)
  if type(v) == "number" then
    if v ~= v or v < 0 or v == math.huge then return nil, "a number of bytes >= 0" end
    return v
  end
  if type(v) ~= "string" then return nil, "a number of bytes or a string like \"4G\"" end
  local num, unit = v:match("^%s*([%d.]+)%s*([KMGTPEkmgtpe]?)i?[Bb]?%s*$")
  local n = tonumber(num)
  if not n then return nil, "a size like \"4G\", \"512M\" or a number of bytes" end
  local p = units[unit:upper()] or 0
  return n * 1024 ^ p
end

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

-- Checks one request; returns the normalised request { cpu, gpu, mem, custom = { name,
-- amount, ... } (sorted by name) } or nil and a message naming the field under `where`
-- ("trainer.resources").
function M.check(res, where)
  where = where or "trainer.resources"
  if type(res) ~= "table" then
    return nil, format("%s must be a table { cpu = , gpu = , mem = , custom = }, got %s", where,
      type(res))
  end
  for k in pairs(res) do
    if not fields[k] then
      return nil, format("unknown field '%s.%s' (cpu, gpu, mem, custom, nodes)", where, tostring(k))
    end
  end
  local cpu = res.cpu == nil and 1 or res.cpu
  if not finite(cpu) or cpu <= 0 then
    return nil, format("%s.cpu must be a number > 0, got %s", where, tostring(res.cpu))
  end
  local gpu = res.gpu == nil and 0 or res.gpu
  if not finite(gpu) or gpu < 0 then
    return nil, format("%s.gpu must be a number >= 0, got %s", where, tostring(res.gpu))
  end
  if gpu >= 1 and gpu ~= floor(gpu) then
    return nil, format("%s.gpu must be a whole number of cards when >= 1 (a fraction < 1 " ..
      "shares one card), got %s", where, tostring(gpu))
  end
  local mem = 0
  if res.mem ~= nil then
    local why
    mem, why = M.parse_size(res.mem)
    if not mem then
      return nil, format("%s.mem must be %s, got %s", where, why, tostring(res.mem))
    end
  end
  local nodes = res.nodes == nil and 1 or res.nodes
  if type(nodes) ~= "number" or nodes < 1 or nodes ~= floor(nodes) or nodes > 1e6 then
    return nil, format("%s.nodes must be a whole number of nodes >= 1 (the slurm executor), " ..
      "got %s", where, tostring(res.nodes))
  end
  local custom = {}
  if res.custom ~= nil then
    if type(res.custom) ~= "table" then
      return nil, format("%s.custom must be a table of NAME = amount", where)
    end
    local names = {}
    for k, v in pairs(res.custom) do
      if type(k) ~= "string" or not k:match("^[%w_.-]+$") then
        return nil, format("%s.custom has an invalid name %s (letters, digits, '_', '-', '.')",
          where, tostring(k))
      end
      if not finite(v) or v < 0 then
        return nil, format("%s.custom.%s must be a number >= 0, got %s", where, k, tostring(v))
      end
      names[#names + 1] = k
    end
    sort(names)
    for _, k in ipairs(names) do
      custom[#custom + 1] = k
      custom[#custom + 1] = res.custom[k]
    end
  end
  -- nodes only when asked for: a one-node request reads as it always did
  return { cpu = cpu, gpu = gpu, mem = mem, custom = custom, nodes = res.nodes and nodes }
end

-- Checks the experiment's custom_resources = { name = capacity }; returns "name=capacity"
-- entries (sorted) or nil, why.
function M.capacities(t)
  if t == nil then return {} end
  if type(t) ~= "table" then return nil, "custom_resources must be a table of NAME = capacity" end
  local out = {}
  for k, v in pairs(t) do
    if type(k) ~= "string" or not k:match("^[%w_.-]+$") then
      return nil, format("custom_resources has an invalid name %s (letters, digits, '_', '-', " ..
        "'.')", tostring(k))
    end
    if not finite(v) or v < 0 then
      return nil, format("custom_resources.%s must be a number >= 0, got %s", k, tostring(v))
    end
    out[#out + 1] = k .. "=" .. format("%.17g", v)
  end
  sort(out)
  return out
end

return M

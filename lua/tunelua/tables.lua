-- Helpers for plain-data tables (configs, lists of values) shared by the schedulers: deep
-- copy, value equality, list tests, and reading or writing a value at a key path. Key order
-- is dsl.sorted_keys.
local dsl = require "tunelua.dsl"

local type, pairs, setmetatable, getmetatable = type, pairs, setmetatable, getmetatable

local M = {}

-- A deep copy of v, metatables kept. Domains (tune.uniform ...) are immutable descriptions
-- and are shared, not copied.
local function deepcopy(v)
  if type(v) ~= "table" or dsl.is_domain(v) then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deepcopy(x) end
  return setmetatable(c, getmetatable(v))
end
M.deepcopy = deepcopy

-- Value equality, tables compared element by element (Python's == on lists and dicts).
local function equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
M.equal = equal

-- The first index of an element equal (by value) to v, or nil.
function M.index_of(list, v)
  for i = 1, #list do
    if equal(list[i], v) then return i end
  end
end

-- Whether list holds v itself (by identity).
function M.contains(list, v)
  for i = 1, #list do
    if list[i] == v then return true end
  end
  return false
end

-- Whether t is a non-empty sequence 1..n with no other keys.
function M.is_list(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

-- The value at t[keys[1]][keys[2]]...; nil when a step on the way is not a table.
function M.get(t, keys)
  local v = t
  for i = 1, #keys do
    if type(v) ~= "table" then return nil end
    v = v[keys[i]]
  end
  return v
end

-- Sets t[keys[1]][keys[2]]... = x, replacing what is not a table on the way by a new table.
function M.set(t, keys, x)
  local v = t
  for i = 1, #keys - 1 do
    if type(v[keys[i]]) ~= "table" then v[keys[i]] = {} end
    v = v[keys[i]]
  end
  v[keys[#keys]] = x
end

return M

-- Seeded pseudo-random numbers for tunelua.
--
-- xoshiro256** (Blackman & Vigna) seeded through splitmix64, computed with
-- LuaJIT FFI uint64_t arithmetic, so a seed gives the same stream on every
-- machine. All randomness in searchers and schedulers comes from here; nothing
-- in tunelua calls math.random.

local ffi = require "ffi"
local bit = require "bit"

local bxor, rshift, lshift, rol = bit.bxor, bit.rshift, bit.lshift, bit.rol
local tohex = bit.tohex
local floor, log, sqrt, cos, pi = math.floor, math.log, math.sqrt, math.cos, math.pi
local byte, format = string.byte, string.format
local type, tonumber, tostring, error = type, tonumber, tostring, error
local setmetatable, getmetatable = setmetatable, getmetatable

local u64 = ffi.typeof("uint64_t")
local state_t = ffi.typeof("uint64_t[4]")

local GOLDEN = 0x9E3779B97F4A7C15ULL
local MIX1 = 0xBF58476D1CE4E5B9ULL
local MIX2 = 0x94D049BB133111EBULL
local FNV_OFFSET = 0xcbf29ce484222325ULL
local FNV_PRIME = 0x100000001b3ULL
local TWO53 = 9007199254740992        -- 2^53
local INV53 = 1 / TWO53

local M = {}

local Rng = {}
Rng.__index = Rng

-- The splitmix64 output function: a bijective 64-bit mixer.
local function mix64(z)
  z = bxor(z, rshift(z, 30)) * MIX1
  z = bxor(z, rshift(z, 27)) * MIX2
  return bxor(z, rshift(z, 31))
end

-- FNV-1a, 64 bits, over the bytes of a string: how string seeds and derive
-- labels become numbers.
local function fnv1a(s)
  local h = FNV_OFFSET
  for i = 1, #s do
    h = bxor(h, byte(s, i)) * FNV_PRIME
  end
  return h
end
M.hash = fnv1a

-- Turns a user seed (non-negative integer number, string, or uint64 cdata)
-- into a uint64. Misuse raises.
local function seed_u64(seed, level)
  local t = type(seed)
  if t == "number" then
    if seed ~= seed or seed < 0 or seed >= TWO53 or floor(seed) ~= seed then
      error("rng seed must be a non-negative integer below 2^53 or a string, got "
            .. tostring(seed), level + 1)
    end
    return u64(seed)
  elseif t == "string" then
    return fnv1a(seed)
  elseif t == "cdata" and ffi.istype(u64, seed) then
    return u64(seed)
  end
  error("rng seed must be a non-negative integer or a string, got " .. t, level + 1)
end

-- Builds an rng from a uint64 seed: splitmix64 fills the four state words,
-- which can never all be zero.
local function from_u64(seed)
  local s = state_t()
  local x = seed
  for i = 0, 3 do
    x = x + GOLDEN
    s[i] = mix64(x)
  end
  return setmetatable({ s = s, seed = seed }, Rng)
end

function M.new(seed)
  return from_u64(seed_u64(seed == nil and 0 or seed, 2))
end

-- One xoshiro256** step: the next 64 random bits as uint64 cdata.
function Rng:next_u64()
  local s = self.s
  local s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
  local result = rol(s1 * 5, 7) * 9
  local t = lshift(s1, 17)
  s2 = bxor(s2, s0)
  s3 = bxor(s3, s1)
  s1 = bxor(s1, s2)
  s0 = bxor(s0, s3)
  s2 = bxor(s2, t)
  s3 = rol(s3, 45)
  s[0], s[1], s[2], s[3] = s0, s1, s2, s3
  return result
end
local next_u64 = Rng.next_u64

-- A double in [0, 1) made of the top 53 bits of one draw.
function Rng:random()
  return tonumber(rshift(next_u64(self), 11)) * INV53
end

function Rng:uniform(a, b)
  return a + (b - a) * self:random()
end

-- An integer uniformly in [lo, hi], both included. Unbiased: draws below
-- 2^64 mod n are rejected, then the draw is reduced mod n.
function Rng:int(lo, hi)
  if type(lo) ~= "number" or type(hi) ~= "number" or floor(lo) ~= lo or floor(hi) ~= hi
      or hi < lo or hi - lo >= TWO53 then
    error(format("rng:int(%s, %s): bounds must be integers with lo <= hi",
                 tostring(lo), tostring(hi)), 2)
  end
  local n = u64(hi - lo + 1)
  local threshold = (-n) % n
  local x = next_u64(self)
  while x < threshold do
    x = next_u64(self)
  end
  return lo + tonumber(x % n)
end

-- A normal deviate by Box–Muller, one pair of uniforms per value (no cached
-- second value, so the state is just the xoshiro words).
function Rng:normal(mean, sd)
  mean = mean or 0
  sd = sd or 1
  local u1 = 1 - self:random()        -- (0, 1]: log is finite
  local u2 = self:random()
  return mean + sd * sqrt(-2 * log(u1)) * cos(2 * pi * u2)
end

function Rng:choice(list)
  local n = #list
  if n == 0 then
    error("rng:choice: empty list", 2)
  end
  return list[self:int(1, n)]
end

-- Fisher–Yates, in place.
function Rng:shuffle(list)
  for i = #list, 2, -1 do
    local j = self:int(1, i)
    list[i], list[j] = list[j], list[i]
  end
  return list
end

-- A new, independent rng whose seed depends only on this rng's original seed
-- and the label, never on how much of this stream was used.
function Rng:derive(label)
  local key
  local t = type(label)
  if t == "string" then
    key = "s:" .. label
  elseif t == "number" then
    key = "n:" .. format("%.17g", label)
  else
    error("rng:derive: label must be a string or a number, got " .. t, 2)
  end
  return from_u64(mix64(bxor(mix64(self.seed + GOLDEN), fnv1a(key))))
end

-- Hex text of a uint64 and back: the state must survive JSON, whose numbers
-- hold 53 bits.
local function hex(x)
  return tohex(x, 16)
end

local function unhex(h)
  if type(h) ~= "string" or not h:match("^%x+$") or #h ~= 16 then
    error("rng.from_state: bad state word " .. tostring(h), 3)
  end
  return u64(tonumber(h:sub(1, 8), 16)) * 4294967296ULL + tonumber(h:sub(9, 16), 16)
end

-- A plain table of strings that rng.from_state turns back into an rng that
-- continues exactly where this one is.
function Rng:get_state()
  local s = self.s
  return { version = 1, seed = hex(self.seed), s = { hex(s[0]), hex(s[1]), hex(s[2]), hex(s[3]) } }
end

function M.from_state(st)
  if type(st) ~= "table" or st.version ~= 1 or type(st.s) ~= "table" then
    error("rng.from_state: not an rng state table", 2)
  end
  local r = from_u64(unhex(st.seed))
  for i = 0, 3 do
    r.s[i] = unhex(st.s[i + 1])
  end
  return r
end

function M.is_rng(v)
  return getmetatable(v) == Rng
end

return M

-- reporter.lua - the Lua twin of reporter.c (config keys pre_sleep and reports), through
-- trainers/lua/tunelua.lua.
package.path = package.path .. ";./trainers/lua/?.lua" -- the engine sets LUA_PATH; by hand
local ffi = require "ffi"
local tune = require "tunelua"

ffi.cdef [[
struct tl_reporter_ts { long tv_sec, tv_nsec; };
int nanosleep(const struct tl_reporter_ts *req, struct tl_reporter_ts *rem);
]]

local c = tune.params()
local pre_sleep = tonumber(c.pre_sleep) or 0
if pre_sleep > 0 then
  local s = math.floor(pre_sleep)
  ffi.C.nanosleep(ffi.new("struct tl_reporter_ts", s, (pre_sleep - s) * 1e9), nil)
end
tune.run(function()
  for i = 1, tonumber(c.reports) or 1 do tune.report { loss = 1 / i, step = i } end
end)

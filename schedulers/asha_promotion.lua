-- ASHA with promotions (asha { promotion = true }): the paper's Algorithm 2 (Li et al.,
-- MLSys 2020) with pause/resume, on the rungs and brackets of schedulers/asha.lua.
--
-- A trial pauses at each rung below the top one. Whenever a slot is free, the best trial in
-- the top 1/rf of the highest rung that has one not yet promoted is resumed ("promoted");
-- when there is none, a new trial starts. A trial that reaches a rung and would be the one
-- promoted right away continues. End game (finite trials): once no new trial can start and
-- none runs, a rung promotes its best max(1, floor(n/rf)) trials, so that the best trial
-- still reaches max_t. When nothing is left to promote, the trials still paused at a rung
-- have lost: they end TERMINATED (exp.stop_trial), not PAUSED.
local Asha = require("schedulers.asha").Asha
local trials = require "tunelua.trials"

local ipairs, pairs, setmetatable, require, tostring = ipairs, pairs, setmetatable, require,
  tostring
local floor, max = math.floor, math.max
local format = string.format

local Promotion = setmetatable({}, { __index = Asha })
Promotion.__index = Promotion

function Promotion:setup(exp)
  Asha.setup(self, exp)
  self.waiting = {} -- trial view -> rung it is paused at
  self.nwaiting = 0 -- how many
  self.lost = {}    -- trial view -> true once stop_trial was asked for it
  self.nlost = 0
end

local function wait(self, x, k)
  if (self.waiting[x] ~= nil) ~= (k ~= nil) then
    self.nwaiting = self.nwaiting + (k and 1 or -1)
  end
  self.waiting[x] = k
end

-- A trial that ended: no longer waiting, nor lost.
local function forget(self, x)
  wait(self, x, nil)
  if self.lost[x] then self.lost[x], self.nlost = nil, self.nlost - 1 end
end

-- Whether trial x may be promoted from rung k: it paused there, or it is `current`.
local function ready(x, k, self, current)
  return x == current or (x.status == "PAUSED" and self.waiting[x] == k)
end

-- The trial Algorithm 2 promotes next (rungs from the top down, the top rung promoting
-- nowhere, best first among its top 1/rf) with its ladder and rung; `current` is the one now
-- reporting, which may be promoted without pausing.
function Promotion:promotable(current)
  for _, L in ipairs(self.ladders) do
    for k = #L.t - 1, 1, -1 do
      local x = L:candidate(k, nil, ready, self, current)
      if x then return x, L, k end
    end
  end
end

local function promote(self, x, L, k)
  if x then
    L:promote(k, x)
    wait(self, x, nil)
  end
  return x
end

function Promotion:on_result(trial, result)
  local L, time, value = self:point(trial, result)
  if not L then return "continue" end
  if time >= self.opts.max_t and self.opts.stop_last_trials then
    L:record(L:rung_at(time), trial, value)
    return "stop"
  end
  local k = L:rung_at(time)
  if k == 0 or L:get(k, trial) ~= nil then return "continue" end
  L:record(k, trial, value)
  if k == #L.t then return "continue" end
  local best, bl, bk = self:promotable(trial)
  if best == trial and bl == L and bk == k then
    promote(self, trial, L, k)
    return "continue"
  end
  wait(self, trial, k)
  return "pause"
end

function Promotion:on_trial_complete(trial, result)
  forget(self, trial)
  Asha.on_trial_complete(self, trial, result)
end

function Promotion.record_final(_, L, trial, time, value)
  L:record(L:rung_at(time), trial, value)
end

function Promotion:on_trial_error(trial)
  forget(self, trial)
end

-- With a finite number of trials the top 1/rf of a small rung is empty (floor(n/rf) = 0), so
-- Algorithm 2 alone would end with no trial trained to max_t. Once no new trial can start and
-- none runs, a rung promotes its best max(1, floor(n/rf)) trials (one at a time, the highest
-- rung first), as synchronous successive halving rounding up to one would.
function Promotion:end_game()
  if not trials.exhausted(self) or trials.count(self.exp.trials, "RUNNING") > 0 then return nil end
  local best, bl, bk
  for _, L in ipairs(self.ladders) do
    for k = #L.t - 1, (bk or 0) + 1, -1 do
      local x = L:candidate(k, max(1, floor(L:count(k) / L.eta)), ready, self)
      if x then
        best, bl, bk = x, L, k
        break
      end
    end
  end
  if not best then self:end_losers() end
  return promote(self, best, bl, bk)
end

-- The end: no trial runs, none can start, and no rung has one left to promote (a rung's count
-- cannot grow any more, so neither can its top). Only now are the trials waiting at a rung
-- losers, and they are ended, in trial order; before, a later promotion into their rung
-- could still have raised its top to include them. They stay in self.waiting until the
-- engine completes them, so that they are not chosen again as "paused for another reason".
function Promotion:end_losers()
  local stop = self.exp.stop_trial
  if not stop or self.nlost == self.nwaiting then return end -- all asked for already
  for _, x in ipairs(self.exp.trials) do
    local k = self.waiting[x]
    if k and x.status == "PAUSED" and not self.lost[x] then
      self.lost[x], self.nlost = true, self.nlost + 1
      stop(x, format("not promoted from rung %s = %s", self.opts.time_attr,
        tostring(self.of[x].t[k])))
    end
  end
end

local function not_waiting(x, self)
  return not self.waiting[x]
end

-- A trial paused for another reason (an interrupted run): only looked for when there are more
-- PAUSED trials than trials waiting at a rung (these are PAUSED from the decision on).
local function paused_otherwise(self, list)
  if trials.count(list, "PAUSED") == self.nwaiting then return nil end
  return trials.first(list, "PAUSED", not_waiting, self)
end

-- A promotion if there is one, else a trial paused for another reason, else the first
-- PENDING trial; nil lets the searcher add a new one.
function Promotion:choose_trial_to_run()
  local list = self.exp.trials
  return promote(self, self:promotable(nil)) or paused_otherwise(self, list)
    or trials.first(list, "PENDING") or self:end_game()
end

-- asha.lua's constructor builds it with its checked options (.new); called by itself
-- (--scheduler asha_promotion) it is asha { promotion = true, ... }.
return setmetatable({
  new = function(o) return setmetatable({ name = "asha-promotion", opts = o }, Promotion) end,
}, { __call = function(_, opts)
  local o = { promotion = true }
  for k, v in pairs(opts or {}) do o[k] = v end
  return require("schedulers.asha")(o)
end })

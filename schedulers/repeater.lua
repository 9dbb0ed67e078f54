-- Repeats every config of any searcher (Ray Tune's Repeater), for noisy objectives:
--   searcher = tune.searchers.repeater { searcher = tune.searchers.tpe {}, ["repeat"] = 3 }
-- runs each config `repeat` times (config.__trial_index__ = 0, 1, ... unless
-- set_index = false) and tells the inner searcher the mean of the metric once all have
-- ended. num_samples counts trials, so the inner searcher proposes num_samples / repeat.
-- See lua/tunelua/searchers.lua.
local S = require "tunelua.searchers"

return function(opts)
  local s = S.repeater(opts, 3)
  return s
end

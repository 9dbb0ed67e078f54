-- A concurrency limiter around any searcher (Ray Tune's ConcurrencyLimiter):
--   searcher = tune.searchers.limiter { searcher = tune.searchers.tpe {}, max_concurrent = 4 }
-- answers "wait" while max_concurrent of its trials are unfinished; batch = true waits for
-- the whole batch to finish before the next one starts. See lua/tunelua/searchers.lua.
local S = require "tunelua.searchers"

return function(opts)
  local s = S.limiter(opts, 3)
  return s
end

-- FIFO: every trial runs to the end in the order it was added (the first PENDING trial,
-- else the first PAUSED one, among those that fit the free resources); no early stopping.
-- The baseline every other scheduler is compared with.
local options, trials = require "tunelua.options", require "tunelua.trials"

return function(opts)
  options.check("fifo", opts, {})
  local self = { name = "fifo" }
  function self.setup(_, exp) self.exp = exp end
  function self.on_result() return "continue" end
  function self.choose_trial_to_run() return trials.fifo(self.exp.trials, self.exp.fits) end
  return self
end

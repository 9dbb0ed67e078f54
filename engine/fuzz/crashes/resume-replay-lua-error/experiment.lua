local tune = require 'tunelua'
return tune.experiment {
  name = 'fz',
  trainer = { cmd = { 'true' }, resources = { cpu = 1 }, reuse = true },
  config = { lr = tune.grid_search { 0.1, 0.2 } },
  metric = 'loss', mode = 'min',
  stop = { training_iteration = 12 },
  checkpoint = { every = 1, keep = 3 },
  scheduler = tune.schedulers.pbt {
    time_attr = 'training_iteration', perturbation_interval = 1,
    hyperparam_mutations = { lr = tune.uniform(0.01, 1) },
  },
}

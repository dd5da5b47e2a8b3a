"""Feed-forward stylisation: a network trained once per style renders a photo in one pass.

* `models.build_transformer`: Johnson et al. 2016's image transformation network with instance norm;
* `config.FastTrainConfig`: every setting of a training run; `task.train(config)` runs it on the
  training core (`tfstyle.training`);
* `inference`: load a trained network from its run folder (or the bundled one) and stylise images of any size;
* thin CLIs: `python -m tfstyle.fast.train`, `python -m tfstyle.fast.stylize`, `python -m tfstyle.fast.export`.
"""

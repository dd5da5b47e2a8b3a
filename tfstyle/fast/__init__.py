"""Feed-forward stylisation: a network renders a photo in one pass.

* `models.build_transformer`: Johnson et al. 2016's per-style image transformation network with instance norm;
  `models.build_decoder` / `build_arbitrary`: Huang & Belongie 2017's arbitrary-style AdaIN network;
* `config.FastTrainConfig`: every setting of a training run (`arbitrary=True` for AdaIN); `task.train(config)`
  runs it on the training core (`tfstyle.training`);
* `inference.load_model(model_dir)`: a trained network (its run folder, or the bundled one) whose `stylize`
  renders images of any size, with styles, blends, alpha and colour preservation for arbitrary models;
* thin CLIs: `python -m tfstyle.fast.train`, `python -m tfstyle.fast.stylize`, `python -m tfstyle.fast.export`.
"""

from tfstyle.fast.config import FastTrainConfig  # TensorFlow-free

__all__ = ["FastTrainConfig"]

"""tfstyle: neural style transfer and CycleGAN translation in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"

"""Gatys-style neural style transfer: the image is optimised so its VGG features match a content
photo and the Gram statistics of one or more paintings.

    from tfstyle.optimize import OptimizeConfig, stylize
"""

from tfstyle.optimize.config import OptimizeConfig
from tfstyle.optimize.stylize import StepInfo, stylize, stylize_files

__all__ = ["OptimizeConfig", "StepInfo", "stylize", "stylize_files"]

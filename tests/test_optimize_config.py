"""Tests for tfstyle.optimize.config: validate() names the bad flag, resolved() picks CPU/GPU defaults."""

import dataclasses
import math

import pytest

from tfstyle.optimize import config as config_lib
from tfstyle.optimize.config import STYLE_WEIGHTS, OptimizeConfig


@pytest.mark.parametrize("changes, flag", [
    ({"image_size": 15}, "--image_size"),
    ({"iterations": 0}, "--iterations"),
    ({"scales": 0}, "--scales"),
    ({"content_weight": -1.0}, "--content_weight"),
    ({"style_weight": math.nan}, "--style_weight"),
    ({"tv_weight": math.inf}, "--tv_weight"),
    ({"learning_rate": 0.0}, "--learning_rate"),
    ({"lbfgs_history": 0}, "--lbfgs_history"),
    ({"style_scale": 0.0}, "--style_scale"),
    ({"batch_size": 0}, "--batch_size"),
    ({"optimizer": "sgd"}, "--optimizer"),
    ({"preserve_colors": "yes"}, "--preserve_colors"),
    ({"backbone": "resnet50"}, "--backbone"),
    ({"pooling": "min"}, "--pooling"),
    ({"strategy": "tpu"}, "--strategy"),
    ({"precision": "fp16"}, "--precision"),
    ({"init": "no/such/start.png"}, "--init"),
    ({"style_blend": (1.0, -0.5)}, "--style_blend"),
    ({"style_blend": (0.0, 0.0)}, "--style_blend"),
    ({"style_layer_weights": (1.0, 1.0)}, "--style_layer_weights"),
    ({"style_layers": ("block1_conv1", "block9_conv9")}, "--style_layers"),
    ({"content_layers": ("conv4_2",)}, "--content_layers"),
])
def test_validate_rejects_each_bad_setting_naming_its_flag(changes, flag):
    bad = OptimizeConfig(**changes)
    with pytest.raises(ValueError) as error:
        bad.validate(num_styles=2)
    assert str(error.value).startswith(flag), str(error.value)
    # The defaults themselves are valid, so the message is about this one field.
    good = dataclasses.replace(bad, **{k: getattr(OptimizeConfig(), k) for k in changes})
    assert good.validate(num_styles=2) is good


def test_validate_accepts_edge_values(tmp_path):
    start = tmp_path / "start.png"
    start.write_bytes(b"checked for existence only; decoding happens at the CLI edge")
    config = OptimizeConfig(image_size=16, iterations=1, scales=1, content_weight=0.0, style_weight=0.0,
                            tv_weight=0.0, style_blend=(0.0, 1.0), init=str(start), backbone="vgg16",
                            style_layers=("block3_conv3",), style_layer_weights=(2.0,))
    assert config.validate(num_styles=2) is config


def test_style_blend_count_must_match_the_style_images():
    config = OptimizeConfig(style_blend=(0.7, 0.3))
    assert config.validate(num_styles=2) is config
    assert config.validate() is config  # count unknown: nothing to compare
    with pytest.raises(ValueError, match=r"--style_blend has 2 weights but --style has 3 images"):
        config.validate(num_styles=3)
    with pytest.raises(ValueError, match="at least one style image"):
        OptimizeConfig().validate(num_styles=0)


def test_unknown_layer_message_lists_the_valid_names():
    with pytest.raises(ValueError) as error:
        OptimizeConfig(backbone="vgg16", content_layers=("block4_conv4",)).validate()  # a VGG19-only layer
    message = str(error.value)
    assert message.startswith("--content_layers: unknown vgg16 layer(s) block4_conv4")
    assert "block4_conv3" in message and "block5_pool" in message
    assert OptimizeConfig(content_layers=("block4_conv4",)).validate()  # exists in VGG19


def test_resolved_cpu_and_gpu_defaults():
    cpu = OptimizeConfig().resolved(has_gpu=False)
    gpu = OptimizeConfig().resolved(has_gpu=True)
    assert (cpu.image_size, cpu.iterations, cpu.scales) == (
        config_lib.CPU_IMAGE_SIZE, config_lib.CPU_ITERATIONS, 1)
    assert (gpu.image_size, gpu.iterations, gpu.scales) == (
        config_lib.GPU_IMAGE_SIZE, config_lib.GPU_ITERATIONS, 1)
    assert cpu.image_size < gpu.image_size and cpu.iterations < gpu.iterations
    # Everything that is not None is kept as given.
    assert dataclasses.replace(cpu, image_size=None, iterations=None, scales=None, style_weight=None,
                               precision="auto") == OptimizeConfig()


@pytest.mark.parametrize("image_size, has_gpu, scales", [
    (512, False, 1), (513, False, 2), (1024, False, 2), (2048, False, 3),
    (1024, True, 1), (2048, True, 2), (4096, True, 3), (64, False, 1),
])
def test_resolved_scales_keep_each_stage_within_the_stage_size(image_size, has_gpu, scales):
    resolved = OptimizeConfig(image_size=image_size).resolved(has_gpu)
    assert resolved.scales == scales
    stage = config_lib.GPU_STAGE_SIZE if has_gpu else config_lib.CPU_STAGE_SIZE
    assert math.ceil(image_size / 2 ** (resolved.scales - 1)) <= stage


def test_resolved_keeps_explicit_values():
    config = OptimizeConfig(image_size=100, iterations=7, scales=3, precision="float32", style_weight=1e-3)
    assert config.resolved(False, True) == config and config.resolved(True, False) == config


def test_config_is_frozen_and_resolved_returns_a_copy():
    config = OptimizeConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.image_size = 10
    assert config.resolved(False) is not config and config.image_size is None


def test_precision_auto_resolves_to_bf16_only_on_fast_bf16_hardware():
    assert OptimizeConfig().precision == "auto"
    assert OptimizeConfig().resolved(False, fast_bf16=True).precision == "bf16"
    assert OptimizeConfig().resolved(False, fast_bf16=False).precision == "float32"
    assert OptimizeConfig(precision="float32").resolved(True, fast_bf16=True).precision == "float32"  # asked for
    assert OptimizeConfig(precision="bf16").resolved(False, fast_bf16=False).precision == "bf16"
    OptimizeConfig().validate()  # "auto" is a valid setting before it is resolved


def test_style_weight_defaults_to_the_style_loss_own_scale():
    assert OptimizeConfig().style_weight is None  # chosen by resolved(), per style loss
    assert OptimizeConfig().resolved(False, False).style_weight == STYLE_WEIGHTS["gram"]
    assert OptimizeConfig(style_loss="mean_cov").resolved(False, False).style_weight == STYLE_WEIGHTS["mean_cov"]
    assert OptimizeConfig(style_loss="mean_cov", style_weight=2.0).resolved(False, False).style_weight == 2.0


def test_style_loss_is_validated():
    with pytest.raises(ValueError, match="--style_loss"):
        OptimizeConfig(style_loss="w2").validate()

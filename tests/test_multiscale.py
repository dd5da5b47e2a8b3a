"""Tests for tfstyle.optimize.multiscale: stage planning and the memory check done before any work."""

import pytest

from tfstyle.optimize import multiscale
from tfstyle.optimize.multiscale import MIN_STAGE_ITERATIONS, MIN_STAGE_SIZE, Stage


def test_single_scale_is_one_stage():
    assert multiscale.plan_stages(256, 1, 200) == [Stage(256, 200)]


def test_sizes_double_up_to_the_output_and_iterations_halve():
    assert multiscale.plan_stages(1024, 3, 200) == [Stage(256, 200), Stage(512, 100), Stage(1024, 50)]
    assert multiscale.plan_stages(1000, 2, 300) == [Stage(500, 300), Stage(1000, 150)]


def test_iterations_never_drop_below_the_minimum():
    stages = multiscale.plan_stages(2048, 4, 40)
    assert [s.long_side for s in stages] == [256, 512, 1024, 2048]
    assert [s.iterations for s in stages] == [40, MIN_STAGE_ITERATIONS, MIN_STAGE_ITERATIONS, MIN_STAGE_ITERATIONS]
    assert multiscale.plan_stages(128, 2, 5) == [Stage(64, 5), Stage(128, MIN_STAGE_ITERATIONS)]


def test_stages_below_the_minimum_size_are_dropped():
    # 200 -> 100 -> 50: the 50 px stage is below MIN_STAGE_SIZE and is not planned.
    assert MIN_STAGE_SIZE == 64
    assert multiscale.plan_stages(200, 5, 100) == [Stage(100, 100), Stage(200, 50)]
    assert multiscale.plan_stages(127, 3, 10) == [Stage(127, 10)]
    assert multiscale.plan_stages(128, 3, 10)[0] == Stage(64, 10)
    for size in (32, 64, 100, 300, 777, 3000):
        stages = multiscale.plan_stages(size, 6, 50)
        assert stages[-1].long_side == size
        assert all(s.long_side >= MIN_STAGE_SIZE for s in stages[:-1])
        assert all(b.long_side == 2 * a.long_side or b.long_side == 2 * a.long_side + 1
                   for a, b in zip(stages, stages[1:], strict=False))


def test_estimate_grows_with_pixels_and_batch():
    small, large = multiscale.estimate_bytes(256, 256), multiscale.estimate_bytes(512, 512)
    assert large - multiscale.FIXED_BYTES == 4 * (small - multiscale.FIXED_BYTES)
    assert multiscale.estimate_bytes(256, 256, batch=3) - multiscale.FIXED_BYTES == 3 * (small - multiscale.FIXED_BYTES)


def test_check_fits_refuses_a_huge_size_with_a_clear_message():
    available = multiscale.available_bytes(has_gpu=False)
    if available is None:
        pytest.skip("available memory is unknown on this machine")
    with pytest.raises(ValueError) as error:
        multiscale.check_fits(100_000, 80_000, 1, has_gpu=False)
    message = str(error.value)
    assert "80000x100000 px" in message and "GiB" in message and "available RAM" in message
    assert "--image_size" in message


def test_check_fits_accepts_a_small_size():
    assert multiscale.check_fits(64, 48, 1, has_gpu=False) is None
    assert multiscale.available_bytes(has_gpu=False) is None or multiscale.available_bytes(False) > 0

"""Coarse-to-fine planning for high-resolution style transfer, and the memory check done before starting.

A large output is optimised in stages whose long sides double up to the requested size; each stage
starts from the previous result, upsampled. Coarse stages fix the large structures cheaply, so the
finest (most expensive) stage needs fewer iterations: the coarsest gets `iterations`, each finer stage
half of the previous one (at least `MIN_STAGE_ITERATIONS`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import subprocess

logger = logging.getLogger(__name__)

MIN_STAGE_ITERATIONS = 20
MIN_STAGE_SIZE = 64

# Peak memory of one optimisation step through VGG19 up to block5_conv1 (activations kept for backprop,
# their gradients, solver state) = FIXED_BYTES + BYTES_PER_PIXEL * H * W * B. Fitted to the peak RSS that
# experiments/bench_optimize.py measured on CPU (tf 2.21, 2 cores, a fresh process per run), in GiB:
#
#              64 px   256 px   512 px   1024 px
#   adam       0.70    0.92     1.57     3.87       XLA on: 1.17 / 1.95 at 256 / 512
#   lbfgs m=10 0.69    0.95     1.54     3.53       XLA on: 1.26 / 2.28 at 256 / 512
#
# Without XLA that is ~0.77 GB + 3.2-3.6 kB/px (the L-BFGS history, 2 m H W 3 * 4 B = 240 B/px at m=10,
# is lost in the allocator's noise); with XLA up to ~1.0 GB + 5.6 kB/px (L-BFGS, 256 -> 512 px). The
# constants cover the XLA runs with ~10 % to spare and the default (no XLA) runs with ~1.7x.
BYTES_PER_PIXEL = 6_000
FIXED_BYTES = 1_200_000_000  # TF runtime (~0.5 GB), VGG weights, targets, allocator slack


@dataclasses.dataclass(frozen=True)
class Stage:
    """One optimisation stage: the long side in px and the number of iterations."""

    long_side: int
    iterations: int


def plan_stages(image_size: int, scales: int, iterations: int) -> list[Stage]:
    """Stages from coarse to fine, the last at `image_size`.

    Args:
        image_size: long side of the output, px.
        scales: number of stages wanted (sizes halve going back; stages below MIN_STAGE_SIZE px are dropped).
        iterations: steps of the coarsest stage; each finer stage gets half (at least MIN_STAGE_ITERATIONS).

    Returns:
        list of `Stage`, coarsest first; a single stage when scales == 1.
    """
    sizes = [image_size]
    for _ in range(scales - 1):
        smaller = sizes[0] // 2
        if smaller < MIN_STAGE_SIZE:
            break
        sizes.insert(0, smaller)
    stages, steps = [], iterations
    for size in sizes:
        stages.append(Stage(size, steps))
        steps = max(MIN_STAGE_ITERATIONS, steps // 2)
    return stages


def estimate_bytes(height: int, width: int, batch: int = 1) -> int:
    """Rough peak memory of one optimisation step at [batch, height, width, 3], in bytes."""
    return FIXED_BYTES + BYTES_PER_PIXEL * height * width * batch


def available_bytes(has_gpu: bool) -> int | None:
    """Memory the run can use: total GPU memory (nvidia-smi) or the host's available RAM; None if unknown."""
    if has_gpu:
        if shutil.which("nvidia-smi") is None:
            return None
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout.split()
            return int(float(out[0]) * 1024 * 1024)
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(height: int, width: int, batch: int, has_gpu: bool) -> None:
    """Raises ValueError before any work when the finest stage would not fit in memory."""
    available = available_bytes(has_gpu)
    needed = estimate_bytes(height, width, batch)
    if available is not None and needed > available:
        where = "GPU memory" if has_gpu else "available RAM"
        raise ValueError(
            f"a {width}x{height} px output (batch {batch}) needs about {needed / 2**30:.1f} GiB but only "
            f"{available / 2**30:.1f} GiB of {where} is there: lower --image_size or --batch_size"
        )
    logger.debug("memory estimate %.2f GiB of %s", needed / 2**30,
                 "unknown" if available is None else f"{available / 2**30:.1f} GiB")

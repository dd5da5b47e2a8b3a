"""Shared pytest fixtures: the `slow` marker, tiny images and the optional ../shared data."""

import glob
import os
import pathlib
import shutil

import numpy as np
import pytest

# Keep TensorFlow quiet and single-process friendly in tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow (make test-all)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """`../shared/data` beside the repo; tests that need it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def real_vgg_weights() -> str:
    """Path of the real ImageNet VGG19 weights `weights="auto"` finds offline; skips cleanly when there are none."""
    from tfstyle import weights

    try:
        return weights.resolve_weights("vgg19", "auto").path
    except FileNotFoundError as error:
        pytest.skip(f"no offline VGG19 weights ({error})")


@pytest.fixture(scope="session")
def digits(shared_data, tmp_path_factory):
    """A small unpaired set: 5 A digits (8x8 sklearn) and 3 B digits (20x20 OpenCV) from the shared data,
    so an epoch is 5 steps at batch 1 (the CycleGAN trainer and CLI tests share it)."""
    root = tmp_path_factory.mktemp("digits")
    for domain, count in (("A", 5), ("B", 3)):
        (root / domain).mkdir()
        for path in sorted(glob.glob(str(shared_data / "unpaired" / "digits" / domain / "*.png")))[:count]:
            shutil.copy(path, root / domain)
    return root


@pytest.fixture(scope="session")
def two_domains(tmp_path_factory):
    """A small unpaired set that needs no ../shared: 5 A crops of the bundled astronaut photo and 3 B crops
    of the bundled Starry Night, 40 px PNGs (an epoch is 5 steps at batch 1, like `digits`)."""
    import helpers

    return helpers.make_two_domain_set(tmp_path_factory.mktemp("two_domains"))


@pytest.fixture
def free_ports():
    """`free_ports(n)` -> n TCP ports on localhost that were free a moment ago (for TF_CONFIG clusters)."""
    import socket

    def ports(count: int) -> list[int]:
        sockets = [socket.socket() for _ in range(count)]
        for sock in sockets:
            sock.bind(("localhost", 0))
        numbers = [sock.getsockname()[1] for sock in sockets]
        for sock in sockets:
            sock.close()
        return numbers

    return ports

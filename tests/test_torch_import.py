"""`python -m tfstyle.cyclegan.import_torch`: the reference's generators, saved by torch itself, run in Keras.

The fixtures (tests/fixtures/torch_generators/, made once by tests/fixtures/make_torch_generators.py with torch
installed) are small generators of every `--netG` kind and norm of pytorch-CycleGAN-and-pix2pix, built from the
reference's own classes with random weights, plus that network's eval-mode output on a real photo. Each is
imported here without torch and must give the same picture within 1 level of 255.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle

import helpers
import numpy as np
import pytest
from PIL import Image

FIXTURES = helpers.REPO / "tests" / "fixtures" / "torch_generators"
CASES = json.loads((FIXTURES / "manifest.json").read_text())["cases"]
MODULE = "tfstyle.cyclegan.import_torch"


def _image(name: str) -> np.ndarray:
    with Image.open(FIXTURES / name) as image:
        return np.asarray(image.convert("RGB"))


def _translate(model_dir, image: np.ndarray, direction: str = "a2b") -> np.ndarray:
    from tfstyle.cyclegan import inference

    generator, config = inference.load_generator(model_dir, direction)
    return inference.translator_for(generator, config)([image])[0]


def _max_level_difference(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_imported_generator_gives_torchs_picture(case, tmp_path):
    from tfstyle.cyclegan import inference
    from tfstyle.cyclegan import torch_import as import_torch
    from tfstyle.training import rundir

    model_dir = tmp_path / "run"
    import_torch.import_run(import_torch.ImportArgs(model_dir=str(model_dir)), str(FIXTURES / case["file"]))

    config = inference.load_run_config(rundir.RunDir(model_dir))
    # The architecture was read off the file's keys, no flags given.
    assert (config.generator, config.ngf, config.norm) == (case["netG"], case["ngf"], case["norm"])
    assert rundir.RunDir(model_dir).task() == ("pix2pix" if case["netG"].startswith("unet") else "cyclegan")
    expected = _image(case["output"])
    assert expected.std() > 10  # a picture, not a flat grey: random weights at a useful scale
    assert _max_level_difference(_translate(model_dir, _image(case["input"])), expected) <= 1
    provenance = json.loads((model_dir / "imported.json").read_text())
    assert provenance["sources"]["generator_ab"]["sha256"] == case["sha256"]


def test_explicit_flags_are_checked_against_the_file(tmp_path):
    from tfstyle.cyclegan import torch_import as import_torch

    resnet = str(FIXTURES / "resnet_9blocks_instance.pth")
    unet = str(FIXTURES / "unet_256_batch_dropout.pth")
    bad = [
        (resnet, dict(generator="resnet_6blocks"), "no key 'model.16.weight'"),  # 9 blocks where 6 were named
        (resnet, dict(ngf=8), r"key 'model.1.weight' has shape \(4, 3, 7, 7\), but .* needs \(8, 3, 7, 7\)"),
        (resnet, dict(norm="batch"), "no key 'model.2.weight'"),
        (unet, dict(generator="resnet_9blocks"), "no key 'model.1.weight'"),
        # unet_128's innermost level (7) has its up conv at model.3; the 8-level file has a middle block there.
        (unet, dict(generator="unet_128"), r"no key 'model\.model\.1(\.model\.3){5}\.model\.3\.weight'.*layer up7"),
    ]
    for path, flags, message in bad:
        model_dir = tmp_path / "run"
        with pytest.raises(ValueError, match=message):
            import_torch.import_run(import_torch.ImportArgs(model_dir=str(model_dir), **flags), path)
        assert not model_dir.exists() and os.listdir(tmp_path) == []
    # The right flags, given explicitly, pass.
    import_torch.import_run(import_torch.ImportArgs(model_dir=str(tmp_path / "ok"), generator="unet_256",
                                                    norm="batch", ngf=2), unet)


def test_cli_imports_both_directions_and_translate_reads_the_run(tmp_path):
    case = next(case for case in CASES if case["name"] == "resnet_9blocks_instance")
    model_dir = tmp_path / "horse2zebra"
    result = helpers.run_module(MODULE, FIXTURES / case["file"], "--b2a", FIXTURES / case["file"],
                                "--model_dir", model_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    output = tmp_path / "out.png"
    for direction in ("a2b", "b2a"):
        result = helpers.run_module("tfstyle.cyclegan.translate", "--model_dir", model_dir, "--direction",
                                    direction, "--input", FIXTURES / case["input"], "--output", output)
        assert result.returncode == 0, result.stderr[-2000:]
        assert _max_level_difference(_image(str(output)), _image(case["output"])) <= 1
        output.unlink()


def test_one_file_run_refuses_b2a_by_name(tmp_path):
    from tfstyle.cyclegan import torch_import as import_torch

    model_dir = tmp_path / "run"
    import_torch.import_run(import_torch.ImportArgs(model_dir=str(model_dir)),
                            str(FIXTURES / "resnet_6blocks_none.pth"))
    with pytest.raises(ValueError, match="no b2a generator .*--b2a"):
        _translate(model_dir, _image("resnet_6blocks_none_input.png"), "b2a")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _legacy_file(path: pathlib.Path, main_object) -> None:
    """A legacy torch.save layout (three header pickles, the main pickle, the storage keys) around `main_object`."""
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, file, protocol=2)
        pickle.dump(main_object, file, protocol=2)
        pickle.dump([], file, protocol=2)


def test_bad_input_gives_one_error_line_and_writes_nothing(tmp_path):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "latest_net_G.pth"
    _legacy_file(crafted, {"model.1.weight": _Exploit(marker)})
    not_torch = tmp_path / "notes.pth"
    not_torch.write_text("hello")
    resnet = FIXTURES / "resnet_9blocks_instance.pth"
    unet = FIXTURES / "unet_128_instance.pth"
    existing = tmp_path / "existing"
    existing.mkdir()
    model_dir = tmp_path / "run"
    cases = [
        ((crafted, "--model_dir", model_dir), "refusing to load global posix.system"),
        ((not_torch, "--model_dir", model_dir), "malformed torch file"),
        ((resnet, "--netG", "resnet_6blocks", "--model_dir", model_dir), "no key 'model.16.weight'"),
        ((tmp_path / "missing.pth", "--model_dir", model_dir), "no such file"),
        ((resnet, "--model_dir", existing), "exists already"),
        ((unet, "--b2a", unet, "--model_dir", model_dir), "pix2pix run has one generator"),
        (("--model_dir", model_dir), "give one .pth file"),
    ]
    for args, pattern in cases:
        helpers.one_error_line(helpers.run_module(MODULE, *args), pattern)
        assert not model_dir.exists() and not marker.exists()
    assert sorted(os.listdir(tmp_path)) == ["existing", "latest_net_G.pth", "notes.pth"]
    assert os.listdir(existing) == []

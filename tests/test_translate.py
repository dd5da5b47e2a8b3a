"""tfstyle.cyclegan.inference and the translate CLI on a tiny model_dir (ngf 8, 2 residual blocks).

The model_dir is made the way the trainer makes it (config.json from `TrainConfig` + a
`tf.train.Checkpoint(generator_ab=..., generator_ba=...)` saved by a CheckpointManager), without
running the trainer. References pad with numpy, run the Keras model and convert with numpy.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfstyle.cyclegan import config as config_lib
from tfstyle.cyclegan import inference, models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ODD_SIZES = [(37, 50), (20, 33), (37, 50), (32, 32), (9, 61)]


def make_model_dir(path, seed: int = 0, checkpoints: int = 1) -> dict:
    """A trainer-shaped model_dir; returns {"a2b": weights, "b2a": weights} of the LAST checkpoint."""
    keras.utils.set_random_seed(seed)
    config = config_lib.tiny(model_dir=str(path), domain_a="unused_a", domain_b="unused_b")
    config_lib.save_config(config, path)
    generator_ab = models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ab")
    generator_ba = models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ba")
    checkpoint = tf.train.Checkpoint(
        generator_ab=generator_ab, generator_ba=generator_ba, step=tf.Variable(0, dtype=tf.int64)
    )
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(path, "checkpoints"), max_to_keep=3)
    for index in range(checkpoints):
        if index:  # later checkpoints hold different weights
            for variable in generator_ab.trainable_variables + generator_ba.trainable_variables:
                variable.assign(variable + 0.01)
        checkpoint.step.assign(index + 1)
        manager.save()
    return {"a2b": generator_ab.get_weights(), "b2a": generator_ba.get_weights(), "models": (generator_ab,
                                                                                            generator_ba)}


def reference_translate(generator, image: np.ndarray) -> np.ndarray:
    """numpy reflect-pad to a multiple of 4, Keras model, crop, numpy back to uint8."""
    height, width = image.shape[:2]
    signed = image.astype(np.float32) / 255.0 * 2.0 - 1.0
    padded = np.pad(signed, ((0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")
    output = generator(padded[None], training=False).numpy()[0, :height, :width]
    return np.round(np.clip((output + 1.0) / 2.0, 0.0, 1.0) * 255.0).astype(np.uint8)


def random_images(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for height, width in sizes]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("run")
    saved = make_model_dir(path)
    return path, saved


def run_cli(module: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=240, cwd=REPO
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# --- library --------------------------------------------------------------------------------


def test_load_generator_restores_each_direction(model_dir):
    path, saved = model_dir
    for direction in ("a2b", "b2a"):
        generator, config = inference.load_generator(path, direction)
        assert config.ngf == 8 and config.generator == "resnet_2blocks"
        assert generator.name == inference.DIRECTIONS[direction]
        for restored, expected in zip(generator.get_weights(), saved[direction], strict=True):
            np.testing.assert_array_equal(restored, expected)
    # The two generators differ, so a swapped direction would have failed above.
    assert any(not np.array_equal(a, b) for a, b in zip(saved["a2b"], saved["b2a"], strict=True))


def test_load_generator_falls_back_from_a_truncated_checkpoint(tmp_path, caplog):
    saved = make_model_dir(tmp_path, seed=1, checkpoints=2)
    newest = tf.train.latest_checkpoint(tmp_path / "checkpoints")
    assert newest.endswith("ckpt-2")
    with open(newest + ".data-00000-of-00001", "r+b") as file:
        file.truncate(100)
    generator, _ = inference.load_generator(tmp_path, "a2b")
    # ckpt-1 holds the weights before the +0.01 step.
    for restored, latest in zip(generator.get_weights(), saved["a2b"], strict=True):
        if latest.size and latest.dtype.kind == "f" and np.any(latest != 0):
            assert not np.allclose(restored, latest)
    assert "trying an older one" in caplog.text


def test_load_generator_errors(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match="no such model_dir"):
        inference.load_generator(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        inference.load_generator(tmp_path)
    config_lib.save_config(config_lib.tiny(model_dir=str(tmp_path)), tmp_path)
    with pytest.raises(FileNotFoundError, match="has no checkpoint.*tfstyle.cyclegan.train"):
        inference.load_generator(tmp_path)
    with pytest.raises(ValueError, match="direction"):
        inference.load_generator(model_dir[0], "a2a")


def test_load_generator_rejects_checkpoint_that_does_not_match_config(tmp_path, model_dir):
    path, _ = model_dir
    os.symlink(os.path.join(path, "checkpoints"), tmp_path / "checkpoints")
    config_lib.save_config(config_lib.tiny(model_dir=str(tmp_path), ngf=16), tmp_path)  # saved with ngf 8
    with pytest.raises(ValueError, match="matching config.json"):
        inference.load_generator(tmp_path)


def test_translate_images_keeps_every_size_and_matches_the_model(model_dir):
    path, saved = model_dir
    generator, _ = inference.load_generator(path, "a2b")
    inputs = random_images(ODD_SIZES)
    reports = []
    outputs = inference.translate_images(generator, inputs, batch_size=2, callback=reports.append)
    assert [o.shape for o in outputs] == [i.shape for i in inputs]
    assert all(o.dtype == np.uint8 for o in outputs)
    for image, output in zip(inputs, outputs, strict=True):
        expected = reference_translate(generator, image)
        assert expected.std() > 10  # the untrained generator's output varies: the comparison means something
        np.testing.assert_allclose(output.astype(int), expected.astype(int), atol=1)
    assert reports[-1].done == reports[-1].total == len(inputs)
    # Instance norm is per image: batching must not change a result.
    singles = inference.translate_images(generator, inputs, batch_size=1)
    for single, batched in zip(singles, outputs, strict=True):
        np.testing.assert_allclose(single.astype(int), batched.astype(int), atol=1)


def test_translate_images_rejects_bad_input(model_dir):
    generator, _ = inference.load_generator(model_dir[0], "a2b")
    with pytest.raises(ValueError, match=">= 8"):
        inference.translate_images(generator, random_images([(7, 40)]))
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        inference.translate_images(generator, [np.zeros((16, 16), np.uint8)])
    with pytest.raises(ValueError, match="batch_size"):
        inference.translate_images(generator, random_images([(16, 16)]), batch_size=0)


@pytest.mark.slow  # ~12 s: a fresh process with two logical CPUs
def test_mirrored_strategy_over_two_cpus_matches_one_device(model_dir, tmp_path):
    """Batches split over two logical CPU replicas (partial last batch included) give the same pixels."""
    inputs = random_images([(20, 33)] * 3 + [(37, 50)])
    np.save(tmp_path / "inputs.npy", np.array(inputs, dtype=object), allow_pickle=True)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tfstyle.cyclegan import inference
        inputs = list(np.load({str(tmp_path / "inputs.npy")!r}, allow_pickle=True))
        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert mirrored.num_replicas_in_sync == 2
        generator, _ = inference.load_generator({str(model_dir[0])!r}, "a2b", strategy=mirrored)
        split = inference.translate_images(generator, inputs, batch_size=2, strategy=mirrored)
        single, _ = inference.load_generator({str(model_dir[0])!r}, "a2b")
        whole = inference.translate_images(single, inputs, batch_size=2)
        for a, b in zip(split, whole, strict=True):
            assert a.shape == b.shape, (a.shape, b.shape)
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
        print("OK", len(split))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK 4" in result.stdout


# --- CLI ------------------------------------------------------------------------------------


def write_inputs(folder, sizes=ODD_SIZES[:3]):
    folder.mkdir()
    arrays = random_images(sizes, seed=3)
    names = [f"img{index}.png" for index in range(len(arrays))]
    for name, array in zip(names, arrays, strict=True):
        Image.fromarray(array).save(folder / name)
    Image.fromarray(random_images([(24, 18)], seed=4)[0]).save(folder / "photo.jpg", quality=90)
    Image.fromarray(random_images([(16, 20)], seed=5)[0]).save(folder / "anim.gif")
    (folder / "notes.txt").write_text("not an image, not listed")
    return dict(zip(names, arrays, strict=True))


def test_cli_translates_a_folder_keeping_names_and_sizes(model_dir, tmp_path):
    path, saved = model_dir
    pngs = write_inputs(tmp_path / "in")
    result = run_cli("tfstyle.cyclegan.translate", f"--model_dir={path}", "--direction=b2a",
                     f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'out' / 'sub'}", "--batch_size=2")
    assert result.returncode == 0, result.stderr
    written = sorted(os.listdir(tmp_path / "out" / "sub"))
    assert written == sorted([*pngs, "photo.jpg", "anim.png"])  # .gif cannot be written: PNG instead
    generator_ba = saved["models"][1]
    for name, array in pngs.items():
        output = np.asarray(Image.open(tmp_path / "out" / "sub" / name))
        np.testing.assert_allclose(output.astype(int), reference_translate(generator_ba, array).astype(int),
                                   atol=1)
    assert np.asarray(Image.open(tmp_path / "out" / "sub" / "photo.jpg")).shape == (24, 18, 3)
    assert np.asarray(Image.open(tmp_path / "out" / "sub" / "anim.png").convert("RGB")).shape == (16, 20, 3)


def test_cli_translates_one_file(model_dir, tmp_path):
    path, saved = model_dir
    image = random_images([(37, 50)], seed=6)[0]
    Image.fromarray(image).save(tmp_path / "in.png")
    result = run_cli("tfstyle.cyclegan.translate", f"--model_dir={path}", f"--input={tmp_path / 'in.png'}",
                     f"--output={tmp_path / 'out.png'}")
    assert result.returncode == 0, result.stderr
    output = np.asarray(Image.open(tmp_path / "out.png"))
    np.testing.assert_allclose(output.astype(int), reference_translate(saved["models"][0], image).astype(int),
                               atol=1)
    assert sorted(os.listdir(tmp_path)) == ["in.png", "out.png"]  # no temp folder left


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_input", "does not exist"),
        ("non_image", "not an image"),
        ("too_small", "below the 8 px minimum"),
        ("no_checkpoint", "has no checkpoint"),
        ("file_output_for_folder", "must be a folder"),
        ("output_is_input", "must differ"),
    ],
)
def test_cli_bad_input_gives_one_error_line_and_writes_nothing(model_dir, tmp_path, case, message):
    path = model_dir[0]
    inputs = tmp_path / "in"
    write_inputs(inputs)
    output = tmp_path / "out"
    if case == "missing_input":
        inputs = tmp_path / "nowhere"
    elif case == "non_image":
        (inputs / "zzz_broken.png").write_text("text, not a PNG")  # sorted last: fails after the others
    elif case == "too_small":
        Image.fromarray(random_images([(4, 30)])[0]).save(inputs / "zzz_tiny.png")
    elif case == "no_checkpoint":
        path = tmp_path / "untrained"
        config_lib.save_config(config_lib.tiny(model_dir=str(path)), path)
    elif case == "file_output_for_folder":
        output = tmp_path / "out.png"
    elif case == "output_is_input":
        output = inputs
    before = sorted(os.listdir(tmp_path))
    result = run_cli("tfstyle.cyclegan.translate", f"--model_dir={path}", f"--input={inputs}",
                     f"--output={output}")
    assert result.returncode == 2
    errors = error_lines(result)
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert sorted(os.listdir(tmp_path)) == before  # no output folder, no temp folder
    if case != "missing_input":
        assert not any(name.startswith(".tmp") for name in os.listdir(tmp_path / "in"))

"""tfstyle.cyclegan.inference and the translate CLI on a tiny model_dir (ngf 8, 2 residual blocks).

The model_dir is made the way the trainer makes it (config.json written by `RunDir.save_config` + a
`tf.train.Checkpoint(generator_ab=..., generator_ba=...)` saved by a CheckpointManager), without
running the trainer. References pad with numpy, run the Keras model and convert with numpy
(`helpers.reference_translate`).
"""

import os
import textwrap

import helpers
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfstyle.cyclegan import config as config_lib
from tfstyle.cyclegan import inference, models
from tfstyle.training import rundir

ODD_SIZES = [(37, 50), (20, 33), (37, 50), (32, 32), (9, 61)]
random_images = helpers.random_images


def save_run_config(path, **changes) -> None:
    config = config_lib.tiny(model_dir=str(path), domain_a="unused_a", domain_b="unused_b", **changes)
    rundir.RunDir(path).save_config(config, task="cyclegan")


def make_model_dir(path, seed: int = 0, checkpoints: int = 1) -> dict:
    """A trainer-shaped model_dir; returns the weights of every checkpoint, oldest first:
    {"a2b": [weights, ...], "b2a": [...], "models": (generator_ab, generator_ba) at the LAST checkpoint}."""
    keras.utils.set_random_seed(seed)
    save_run_config(path)
    config = config_lib.tiny()
    generator_ab = models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ab")
    generator_ba = models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ba")
    checkpoint = tf.train.Checkpoint(
        generator_ab=generator_ab, generator_ba=generator_ba, step=tf.Variable(0, dtype=tf.int64)
    )
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(path, "checkpoints"), max_to_keep=3)
    saved = {"a2b": [], "b2a": [], "models": (generator_ab, generator_ba)}
    for index in range(checkpoints):
        if index:  # later checkpoints hold different weights
            for variable in generator_ab.trainable_variables + generator_ba.trainable_variables:
                variable.assign(variable + 0.01)
        checkpoint.step.assign(index + 1)
        manager.save()
        saved["a2b"].append(generator_ab.get_weights())
        saved["b2a"].append(generator_ba.get_weights())
    return saved


def damage_run(path) -> None:
    """What a crash can leave: no `checkpoint` state file, and the newest checkpoint (ckpt-2) truncated."""
    checkpoints = os.path.join(path, "checkpoints")
    os.remove(os.path.join(checkpoints, "checkpoint"))
    with open(os.path.join(checkpoints, "ckpt-2.data-00000-of-00001"), "r+b") as file:
        file.truncate(100)


def generator_with(weights, name="generator_ab") -> keras.Model:
    generator = models.build_generator("resnet_2blocks", ngf=8, name_prefix=name)
    generator.set_weights(weights)
    return generator


def assert_weights_equal(actual, expected) -> None:
    for restored, wanted in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(restored, wanted)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("run")
    saved = make_model_dir(path)
    return path, saved


@pytest.fixture(scope="module")
def damaged_run(tmp_path_factory):
    """Two checkpoints, then `damage_run`: only ckpt-1 can be read, and only from its files."""
    path = tmp_path_factory.mktemp("damaged")
    saved = make_model_dir(path, seed=1, checkpoints=2)
    damage_run(path)
    return path, saved


# --- library --------------------------------------------------------------------------------


def test_load_generator_restores_each_direction(model_dir):
    path, saved = model_dir
    for direction in ("a2b", "b2a"):
        generator, config = inference.load_generator(path, direction)
        assert config.ngf == 8 and config.generator == "resnet_2blocks"
        assert generator.name == inference.DIRECTIONS[direction]
        assert_weights_equal(generator.get_weights(), saved[direction][-1])
    # The two generators differ, so a swapped direction would have failed above.
    assert any(not np.array_equal(a, b) for a, b in zip(saved["a2b"][-1], saved["b2a"][-1], strict=True))


def test_load_generator_reads_a_run_whose_config_has_no_task_key(tmp_path, model_dir):
    """Runs written before config.json named its trainer are read as they are."""
    path, saved = model_dir
    os.symlink(os.path.join(path, "checkpoints"), tmp_path / "checkpoints")
    config_lib.save_config(config_lib.tiny(model_dir=str(tmp_path)), tmp_path)  # the old writer, no "task"
    generator, _ = inference.load_generator(tmp_path, "a2b")
    assert_weights_equal(generator.get_weights(), saved["a2b"][-1])


def test_load_generator_without_state_file_falls_back_past_a_truncated_checkpoint(damaged_run, caplog):
    """No `checkpoint` file (ckpt-*.index files are found instead) and a truncated ckpt-2: ckpt-1 is used."""
    path, saved = damaged_run
    assert sorted(os.listdir(path / "checkpoints"))[0].startswith("ckpt-1")
    generator, _ = inference.load_generator(path, "b2a")
    assert_weights_equal(generator.get_weights(), saved["b2a"][0])
    assert "ckpt-2" in caplog.text and "trying the previous one" in caplog.text


def test_load_generator_errors(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match="no such model_dir"):
        inference.load_generator(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        inference.load_generator(tmp_path)
    save_run_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="has no checkpoint.*tfstyle.cyclegan.train"):
        inference.load_generator(tmp_path)
    with pytest.raises(ValueError, match="direction"):
        inference.load_generator(model_dir[0], "a2a")


def test_load_generator_rejects_checkpoint_that_does_not_match_config(tmp_path, model_dir):
    path, _ = model_dir
    os.symlink(os.path.join(path, "checkpoints"), tmp_path / "checkpoints")
    save_run_config(tmp_path, ngf=16)  # the checkpoints hold ngf 8
    with pytest.raises(ValueError, match="can be restored"):
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
        expected = helpers.reference_translate(generator, image)
        assert expected.std() > 10  # the untrained generator's output varies: the comparison means something
        np.testing.assert_allclose(output.astype(int), expected.astype(int), atol=1)
    assert reports[-1].done == reports[-1].total == len(inputs)
    # Instance norm is per image: batching must not change a result.
    singles = inference.translate_images(generator, inputs, batch_size=1)
    for single, batched in zip(singles, outputs, strict=True):
        np.testing.assert_allclose(single.astype(int), batched.astype(int), atol=1)


def test_translate_images_rejects_bad_input(model_dir):
    generator, _ = inference.load_generator(model_dir[0], "a2b")
    with pytest.raises(ValueError, match=r"image 0 is 40x7 px, below the 8 px minimum"):
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
    (tmp_path / "mirrored.py").write_text(script)
    result = helpers.run_script(tmp_path / "mirrored.py", timeout=240)
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


def translate_cli(*args):
    return helpers.run_module("tfstyle.cyclegan.translate", *args, timeout=240)


def test_cli_translates_a_folder_keeping_names_and_sizes(model_dir, tmp_path):
    path, saved = model_dir
    pngs = write_inputs(tmp_path / "in")
    result = translate_cli(f"--model_dir={path}", "--direction=b2a", f"--input={tmp_path / 'in'}",
                           f"--output={tmp_path / 'out' / 'sub'}", "--batch_size=2")
    assert result.returncode == 0, result.stderr
    written = sorted(os.listdir(tmp_path / "out" / "sub"))
    assert written == sorted([*pngs, "photo.jpg", "anim.png"])  # .gif cannot be written: PNG instead
    generator_ba = saved["models"][1]
    for name, array in pngs.items():
        output = np.asarray(Image.open(tmp_path / "out" / "sub" / name))
        np.testing.assert_allclose(output.astype(int),
                                   helpers.reference_translate(generator_ba, array).astype(int), atol=1)
    assert np.asarray(Image.open(tmp_path / "out" / "sub" / "photo.jpg")).shape == (24, 18, 3)
    assert np.asarray(Image.open(tmp_path / "out" / "sub" / "anim.png").convert("RGB")).shape == (16, 20, 3)


def test_cli_translates_one_file_from_a_run_without_state_file_and_a_truncated_newest(damaged_run, tmp_path):
    """The trainer resumes from such a run (ckpt-*.index files), so translate must read it too: from ckpt-1."""
    path, saved = damaged_run
    image = random_images([(37, 50)], seed=6)[0]
    Image.fromarray(image).save(tmp_path / "in.png")
    result = translate_cli(f"--model_dir={path}", f"--input={tmp_path / 'in.png'}", f"--output={tmp_path / 'out.png'}")
    assert result.returncode == 0, result.stderr
    output = np.asarray(Image.open(tmp_path / "out.png"))
    expected = helpers.reference_translate(generator_with(saved["a2b"][0]), image)
    newest = helpers.reference_translate(generator_with(saved["a2b"][1]), image)
    assert np.abs(expected.astype(int) - newest.astype(int)).max() > 1  # the two checkpoints give other pixels
    np.testing.assert_allclose(output.astype(int), expected.astype(int), atol=1)
    assert sorted(os.listdir(tmp_path)) == ["in.png", "out.png"]  # no temp folder left


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_input", "does not exist"),
        ("non_image", "not an image"),
        ("too_small", r"30x4 px, below the 8 px minimum"),
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
        save_run_config(path)
    elif case == "file_output_for_folder":
        output = tmp_path / "out.png"
    elif case == "output_is_input":
        output = inputs
    before = sorted(os.listdir(tmp_path))
    result = translate_cli(f"--model_dir={path}", f"--input={inputs}", f"--output={output}")
    helpers.one_error_line(result, message)
    assert sorted(os.listdir(tmp_path)) == before  # no output folder, no temp folder
    if case != "missing_input":
        assert not any(name.startswith(".tmp") for name in os.listdir(tmp_path / "in"))

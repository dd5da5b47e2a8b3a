"""pix2pix: the U-Net and conditional PatchGAN against the reference's layouts, paired data, the trainer on
the training core (exact resume with dropout), the paired sets, and the commands a user runs.

Data: aligned A|B sets made here from the bundled photos (no ../shared needed).
"""

from __future__ import annotations

import dataclasses
import json
import os

import helpers
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfstyle import data, geometry, images
from tfstyle.cyclegan import inference, models
from tfstyle.pix2pix import config as config_lib
from tfstyle.pix2pix import pairs, trainer


def _trainable(model: keras.Model) -> int:
    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    """4 A|B files of 40 + 40 px: A a crop of a bundled picture, B its negative."""
    folder = tmp_path_factory.mktemp("aligned")
    crops = [image[:40, :40] for image in map(np.asarray, _bundled_crops())]
    for index, crop in enumerate(crops):
        Image.fromarray(np.concatenate([crop, 255 - crop], axis=1)).save(folder / f"{index}.png")
    return folder


def _bundled_crops():
    with Image.open(helpers.ASSETS / "astronaut.jpg") as opened:
        picture = opened.convert("RGB").resize((96, 96))
    return [picture.crop((x, y, x + 48, y + 48)) for x, y in ((0, 0), (48, 0), (0, 48), (48, 48))]


# ---------------------------------------------------------------------------------------------
# Networks: the reference's parameter counts, by hand
# ---------------------------------------------------------------------------------------------


def test_unet_256_and_conditional_patchgan_match_the_reference_counts():
    # unet_256, ngf 64, batch norm, no conv bias but the outermost transposed conv's (weights: in * out * 16):
    # down 3*64 + 64*128 + 128*256 + 256*512 + 4 * 512*512; up 512*512 + 3 * 1024*512 + 1024*256 + 512*128 + 256*64
    # + 128*3 (+ 3 bias); BatchNorm gamma + beta after down2..7 and up2..8.
    kernels = 16 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 4 * 512 * 512
                    + 512 * 512 + 3 * 1024 * 512 + 1024 * 256 + 512 * 128 + 256 * 64 + 128 * 3)
    norms = 2 * (128 + 256 + 512 + 3 * 512) + 2 * (512 + 3 * 512 + 256 + 128 + 64)
    unet = models.build_generator("unet_256", norm="batch", dropout=True)
    assert _trainable(unet) == kernels + norms + 3 == 54_413_955  # the reference prints 54.414 M
    assert _trainable(models.build_generator("unet_128", norm="batch")) == 54_413_955 - 16 * (512 * 512 + 1024 * 512) \
        - 2 * 2 * 512
    # 70x70 PatchGAN on input | output (6 channels), batch norm: biases on the first and last convs only.
    patch = models.build_patch_discriminator(norm="batch", input_nc=6)
    assert _trainable(patch) == (16 * 6 * 64 + 64) + 16 * (64 * 128 + 128 * 256 + 256 * 512) \
        + 2 * (128 + 256 + 512) + (16 * 512 + 1) == 2_768_705  # 2.769 M
    assert unet.compute_output_shape((1, 256, 256, 3)) == (1, 256, 256, 3)
    # CycleGAN's networks are unchanged by the new options' defaults.
    assert models.build_generator().count_params() == 11_378_179


def test_unet_skips_dropout_and_size_rule():
    keras.utils.set_random_seed(0)
    unet = models.build_generator("unet_64", ngf=4, norm="batch", dropout=True)  # 6 levels: dropout on level 5
    assert [layer.name for layer in unet.layers if isinstance(layer, keras.layers.Dropout)] == ["up5_dropout"]
    # The deepest skip joins level 6's input (after its LeakyReLU) to the innermost decoder output: 8 ngf each.
    assert unet.get_layer("skip6").output.shape[-1] == 2 * 32
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    same = [np.asarray(unet(x, training=False)) for _ in range(2)]
    np.testing.assert_array_equal(*same)
    assert not np.allclose(np.asarray(unet(x, training=True)), np.asarray(unet(x, training=True)))
    assert geometry.generator_rule("unet_256") == (256, 129)
    assert geometry.generator_rule("resnet_9blocks") == (4, 8)
    with pytest.raises(ValueError, match="multiple of 256"):
        geometry.check_crop(128, "unet_256")


def test_norm_none_drops_biases_as_the_reference():
    # The reference's use_bias = (norm == instance): with no norm the generator's convs have no bias.
    generator = models.build_generator("resnet_1blocks", ngf=4, norm="none")
    assert generator.get_layer("d8").bias is None and generator.get_layer("c7s1_3").bias is not None
    assert not any(isinstance(layer, keras.layers.BatchNormalization | keras.layers.GroupNormalization)
                   for layer in generator.layers)
    with pytest.raises(ValueError, match="unknown norm"):
        models.build_generator("unet_32", norm="layer")


# ---------------------------------------------------------------------------------------------
# Paired data
# ---------------------------------------------------------------------------------------------


def test_pairs_get_one_crop_and_flip(aligned):
    inputs, targets = data.aligned_sources(aligned)
    seen_flip = set()
    for epoch in range(3):
        for x, y in data.paired_dataset(inputs, targets, load_size=44, crop_size=32, batch_size=2, epoch=epoch):
            # B is A's negative, and resizing is linear: the same crop and flip give y = -x in [-1, 1].
            np.testing.assert_allclose(x.numpy(), -y.numpy(), atol=2e-3)
            seen_flip.add(round(float(x.numpy().sum()), 2))
    assert len(seen_flip) > 2  # crops and flips do vary between examples
    right, left = data.aligned_sources(aligned, "BtoA")
    np.testing.assert_array_equal(right.read(0), 255 - left.read(0))


def test_paired_folders_match_by_name_and_refuse_orphans(tmp_path):
    for folder, names in (("a", ["cat.png", "dog.png"]), ("b", ["dog.jpg", "cat.jpg"])):
        (tmp_path / folder).mkdir()
        for name in names:
            Image.new("RGB", (8, 8)).save(tmp_path / folder / name)
    paths_a, paths_b = data.paired_folder_paths(tmp_path / "a", tmp_path / "b")
    assert [os.path.basename(p) for p in paths_b] == ["cat.jpg", "dog.jpg"]
    assert [os.path.basename(p) for p in paths_a] == ["cat.png", "dog.png"]
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "owl.png")
    with pytest.raises(ValueError, match=r"owl\.png has no partner named owl\.\*"):
        data.paired_folder_paths(tmp_path / "a", tmp_path / "b")
    Image.new("RGB", (8, 8)).save(tmp_path / "b" / "owl.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "b" / "owl.jpg")
    with pytest.raises(ValueError, match="share the name 'owl'"):
        data.paired_folder_paths(tmp_path / "a", tmp_path / "b")


def test_aligned_files_need_equal_halves(tmp_path):
    Image.new("RGB", (33, 16)).save(tmp_path / "odd.png")
    with pytest.raises(ValueError, match=r"odd\.png: 33 px wide"):
        data.aligned_sources(tmp_path)


# ---------------------------------------------------------------------------------------------
# Trainer
# ---------------------------------------------------------------------------------------------


def test_training_resumes_exactly_with_dropout(aligned, tmp_path):
    # unet_64 at 64 px has a dropout level, whose masks come from state outside the weights.
    settings = dict(aligned=str(aligned), generator="unet_64", load_size=68, image_size=64)
    straight = trainer.train(config_lib.tiny(model_dir=str(tmp_path / "straight"), max_steps=5, **settings))
    first = config_lib.tiny(model_dir=str(tmp_path / "resumed"), max_steps=2, **settings)
    trainer.train(first)
    resumed = trainer.train(dataclasses.replace(first, max_steps=5))
    assert resumed.resumed_from is not None and resumed.step == 5
    assert resumed.losses == straight.losses
    assert set(straight.losses) == set(trainer.LOSS_NAMES)
    assert straight.losses["generator"] == pytest.approx(straight.losses["gan"] + 100 * straight.losses["l1"],
                                                         rel=1e-5)


def test_l1_pulls_the_generator_to_the_targets(aligned, tmp_path):
    # With the adversarial term's weight small beside lambda_L1, 30 steps must cut the L1 loss on the training pairs.
    config = config_lib.tiny(model_dir=str(tmp_path / "run"), aligned=str(aligned), max_steps=30, epochs=30,
                             decay_epochs=0, learning_rate=2e-3, checkpoint_every_steps=30)
    losses = []
    trainer.train(config, callback=lambda info: losses.append(info.losses["l1"]))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    generator, loaded = inference.load_generator(config.model_dir)
    assert loaded.generator == "unet_32" and isinstance(loaded, config_lib.Pix2PixConfig)
    photo = np.asarray(_bundled_crops()[0])[:37, :45]  # not a multiple of 32: padded and cropped back
    out = inference.translator_for(generator, loaded)([photo])[0]
    assert out.shape == photo.shape
    expected = 255 - photo.astype(np.float32)
    assert np.abs(out - expected).mean() < np.abs(photo - expected).mean() * 0.7


# ---------------------------------------------------------------------------------------------
# Paired sets
# ---------------------------------------------------------------------------------------------


def test_edges_and_grey_pairs(tmp_path):
    pytest.importorskip("cv2")
    photo = np.asarray(Image.open(helpers.ASSETS / "astronaut.jpg").convert("RGB"))
    pair = pairs.pair(photo, "edges", 64)
    assert pair.shape == (64, 128, 3)
    edges_half = pair[:, :64]
    assert set(np.unique(edges_half)) == {0, 255} and 0.01 < (edges_half == 0).mean() < 0.5
    np.testing.assert_array_equal(pair[:, 64:], pairs.square(photo, 64))
    grey = pairs.pair(photo, "grey", 32)[:, :32].astype(int)
    assert (grey[..., 0] == grey[..., 2]).all()
    source = tmp_path / "photos"
    source.mkdir()
    for index in range(5):
        Image.fromarray(photo[index * 10:index * 10 + 100, :120]).save(source / f"p{index}.png")
    counts = pairs.make_pairs(pairs.PairsArgs(task="grey", input=str(source), output=str(tmp_path / "set"),
                                              size=16, test_every=3))
    assert counts == {"train": 4, "test": 1}
    assert sorted(os.listdir(tmp_path / "set" / "test")) == ["p2.png"]
    inputs, _ = data.aligned_sources(tmp_path / "set" / "train")
    assert inputs.read(0).shape == (16, 16, 3)
    made = helpers.run_module("tfstyle.pix2pix.make_pairs", "--task=edges", f"--input={source}",
                              f"--output={tmp_path / 'edges'}", "--size=32", timeout=120)
    assert made.returncode == 0, made.stderr[-2000:]
    assert len(os.listdir(tmp_path / "edges" / "train")) == 5 and "wrote 5 training" in made.stdout
    again = helpers.run_module("tfstyle.pix2pix.make_pairs", f"--input={source}", f"--output={tmp_path / 'edges'}",
                               timeout=120)
    helpers.one_error_line(again, "already exists")
    assert sorted(os.listdir(tmp_path)) == ["edges", "photos", "set"]  # no staging folder left behind


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def test_commands_train_translate_export(aligned, tmp_path):
    run = tmp_path / "run"
    flags = ["--load_size=36", "--crop_size=32", "--netG=unet_32", "--ngf=8", "--ndf=8",
             "--netD=n_layers", "--n_layers_D=2",
             "--checkpoint_every_steps=2"]
    trained = helpers.run_module("tfstyle.pix2pix.train", f"--aligned={aligned}", f"--model_dir={run}",
                                 "--max_steps=2", *flags)
    assert trained.returncode == 0, trained.stderr[-2000:]
    photo = tmp_path / "in.png"
    Image.fromarray(np.asarray(_bundled_crops()[1])[:40, :30]).save(photo)
    out = tmp_path / "out.png"
    translated = helpers.run_module("tfstyle.pix2pix.translate", f"--model_dir={run}", f"--input={photo}",
                                    f"--output={out}")
    assert translated.returncode == 0, translated.stderr[-2000:]
    assert Image.open(out).size == (30, 40)
    wrong = helpers.run_module("tfstyle.cyclegan.translate", f"--model_dir={run}", "--direction=b2a",
                               f"--input={photo}", f"--output={tmp_path / 'b.png'}")
    helpers.one_error_line(wrong, "pix2pix run: it has one generator")
    exported = helpers.run_module("tfstyle.pix2pix.export", f"--model_dir={run}", f"--export_dir={tmp_path / 'sm'}")
    assert exported.returncode == 0, exported.stderr[-2000:]
    served = tf.saved_model.load(exported.stdout.strip().splitlines()[-1])
    image = np.asarray(Image.open(photo))[None]
    via_serving = served.signatures["serving_default"](images=tf.constant(image))
    result = next(iter(via_serving.values())).numpy()[0]
    np.testing.assert_array_equal(result, np.asarray(Image.open(out)))


def test_bad_paired_input_gives_one_error_line(aligned, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "a" / "x.png")
    Image.new("RGB", (40, 40)).save(tmp_path / "b" / "y.png")
    Image.new("RGB", (41, 20)).save(tmp_path / "odd.png")
    (tmp_path / "odd_set").mkdir()
    os.replace(tmp_path / "odd.png", tmp_path / "odd_set" / "odd.png")
    model_dir = tmp_path / "run"
    base = [f"--model_dir={model_dir}", "--load_size=36", "--crop_size=32", "--netG=unet_32", "--max_steps=1"]
    cases = [  # the case's flags come last: absl keeps the last value of a flag
        ([f"--domain_a={tmp_path / 'a'}", f"--domain_b={tmp_path / 'b'}"],
         r"--domain_a/--domain_b: .*x\.png has no partner"),
        ([f"--aligned={tmp_path / 'odd_set'}"], r"--aligned: .*odd\.png: 41 px wide"),
        ([f"--aligned={aligned}", "--load_size=64", "--crop_size=48"], r"multiple of 32"),
        ([f"--aligned={aligned}", "--netG=unet_100"], r"unknown generator 'unet_100'"),
        ([f"--aligned={aligned}", f"--domain_a={tmp_path / 'a'}", f"--domain_b={tmp_path / 'b'}"], r"not both"),
        ([f"--aligned={aligned}", "--norm=layer"], r"norm"),
    ]
    for args, pattern in cases:
        helpers.one_error_line(helpers.run_module("tfstyle.pix2pix.train", *base, *args, timeout=120), pattern)
        assert not model_dir.exists()


def test_evaluate_scores_a_held_out_split_against_its_targets(aligned, tmp_path):
    run = tmp_path / "run"
    trainer.train(config_lib.tiny(aligned=str(aligned), model_dir=str(run), max_steps=2))
    kept = tmp_path / "kept"
    scores = tmp_path / "scores.json"
    result = helpers.run_module("tfstyle.pix2pix.evaluate", "--model_dir", run, "--aligned", aligned,
                                "--output_dir", kept, "--json", scores)
    assert result.returncode == 0, result.stderr[-2000:]
    numbers = json.loads(scores.read_text())
    count = len(os.listdir(aligned))
    assert numbers["pairs"] == count == len(os.listdir(kept)) and numbers["KID-VGG"] == numbers["KID-VGG"]
    # The L1 figure is the mean distance of each kept translation to its own target half.
    _, targets = data.aligned_sources(aligned)
    distances = [np.abs(images.read_image_uint8(kept / (os.path.splitext(os.path.basename(path))[0] + ".png"))
                        .astype(np.float32) - targets.read(index)).mean()
                 for index, path in enumerate(targets.paths)]
    assert numbers["l1_levels"] == pytest.approx(float(np.mean(distances)), abs=1e-3)
    helpers.one_error_line(helpers.run_module("tfstyle.pix2pix.evaluate", "--model_dir", run, "--aligned", aligned,
                                              "--output_dir", kept), "exists already")

"""Tests for tfstyle.features: caffe preprocessing, layer names/shapes, truncation, pooling, sizes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstyle import features, images, weights


@pytest.fixture(scope="module")
def random_vgg19_file(tmp_path_factory) -> str:
    """A Keras .weights.h5 of a randomly initialised VGG19 (seeded)."""
    keras.utils.set_random_seed(1)
    path = str(tmp_path_factory.mktemp("vgg19") / "random_vgg19.weights.h5")
    keras.applications.VGG19(include_top=False, weights=None).save_weights(path)
    return path


def _image(rng, height=32, width=32, batch=1) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=(batch, height, width, 3)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# preprocess
# ---------------------------------------------------------------------------------------------


def test_preprocess_matches_keras_vgg19_preprocess_input(rng):
    image = _image(rng, 5, 7, batch=2)
    expected = keras.applications.vgg19.preprocess_input(image.copy() * 255.0)
    actual = np.asarray(features.preprocess(tf.constant(image)))
    assert actual.dtype == np.float32 and actual.shape == (2, 5, 7, 3)
    np.testing.assert_allclose(actual, expected, atol=1e-4)
    # Channel 0 is blue: a pure blue pixel gives 255 - 103.939 there, -mean elsewhere.
    blue = np.asarray(features.preprocess(np.array([[[[0.0, 0.0, 1.0]]]], np.float32)))[0, 0, 0]
    np.testing.assert_allclose(blue, [255.0 - 103.939, -116.779, -123.68], atol=1e-4)


def test_preprocess_inside_tf_function_and_from_uint8_range(rng):
    image = _image(rng, 4, 4)
    graph_fn = tf.function(features.preprocess)
    np.testing.assert_allclose(graph_fn(tf.constant(image)), features.preprocess(image), atol=1e-5)
    # An image that went through images.to_float (the only uint8 -> [0, 1] path) round-trips to keras'.
    pixels = rng.integers(0, 256, size=(1, 3, 3, 3), dtype=np.uint8)
    expected = keras.applications.vgg19.preprocess_input(pixels.astype(np.float32))
    np.testing.assert_allclose(features.preprocess(images.to_float(pixels)), expected, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# Backbones, layer names, shapes
# ---------------------------------------------------------------------------------------------


def test_backbone_specs_match_keras_applications():
    for name, spec in features.BACKBONES.items():
        model = spec.application(include_top=False, weights=None)
        names = [layer.name for layer in model.layers[1:]]
        assert tuple(names) == spec.layer_names, name
        for conv, shape in spec.kernel_shapes.items():
            assert tuple(model.get_layer(conv).kernel.shape) == shape
        # weights checks files against the same layers: the application's own weights pass its check.
        weights.check_layer_weights({conv: model.get_layer(conv).get_weights() for conv in spec.conv_layers},
                                    name, "the application")
        assert spec.keras_weights_file == f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert len(features.BACKBONES["vgg19"].conv_layers) == 16
    assert len(features.BACKBONES["vgg16"].conv_layers) == 13
    assert features.BACKBONES["vgg19"].content_layers == ("block4_conv2",)
    assert features.BACKBONES["vgg19"].style_layers == tuple(f"block{b}_conv1" for b in range(1, 6))


def test_default_layers_shapes_on_32px(rng):
    model = features.build_feature_extractor(weights="random")
    assert model.name == "vgg19_features"
    outputs = model(_image(rng, 32, 48))
    expected = {
        "block4_conv2": (1, 4, 6, 512),
        "block1_conv1": (1, 32, 48, 64),
        "block2_conv1": (1, 16, 24, 128),
        "block3_conv1": (1, 8, 12, 256),
        "block4_conv1": (1, 4, 6, 512),
        "block5_conv1": (1, 2, 3, 512),
    }
    assert list(outputs) == list(expected)  # content first, then style, in request order
    assert {name: tuple(value.shape) for name, value in outputs.items()} == expected
    assert all(value.dtype == tf.float32 for value in outputs.values())
    assert all(float(tf.reduce_min(value)) >= 0.0 for value in outputs.values())  # after ReLU
    assert not model.trainable and model.trainable_weights == []


def test_vgg16_layers(rng):
    layers = ("block3_conv3", "block2_pool")
    model = features.build_feature_extractor("vgg16", layers=layers, weights="random")
    outputs = model(_image(rng))
    assert tuple(outputs["block3_conv3"].shape) == (1, 8, 8, 256)
    assert tuple(outputs["block2_pool"].shape) == (1, 8, 8, 128)
    with pytest.raises(ValueError, match="block3_conv4"):
        features.build_feature_extractor("vgg16", layers=("block3_conv4",), weights="random")


def test_truncation_stops_at_deepest_layer(rng):
    model = features.build_feature_extractor(layers=("block2_conv1", "block1_conv1"), weights="random")
    names = [layer.name for layer in model.layers]
    assert names == ["image", "caffe_preprocess",
                     "block1_conv1", "block1_conv2", "block1_pool", "block2_conv1"]
    # Parameters of exactly the three convs that are needed.
    assert model.count_params() == (3 * 3 * 3 * 64 + 64) + (3 * 3 * 64 * 64 + 64) + (3 * 3 * 64 * 128 + 128)
    assert list(model(_image(rng))) == ["block2_conv1", "block1_conv1"]


def test_random_weights_are_the_same_network_in_every_build_whatever_the_global_seed(rng):
    layers = ("block2_conv1",)
    keras.utils.set_random_seed(3)
    first = features.build_feature_extractor(layers=layers, weights="random")
    keras.utils.set_random_seed(4)
    second = features.build_feature_extractor(layers=layers, weights="random")
    image = _image(rng)
    np.testing.assert_array_equal(first(image)["block2_conv1"], second(image)["block2_conv1"])
    # each layer draws its own values, not one kernel repeated
    kernels = [first.get_layer(name).get_weights()[0] for name in ("block1_conv2", "block2_conv1")]
    assert not np.allclose(kernels[0][..., :64].ravel()[:500], kernels[1][..., :64].ravel()[:500])


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_extractor_matches_the_keras_application(rng, random_vgg19_file, pooling):
    # The extractor builds its layers itself; the application with the same weights gives the same features.
    layers = ("block4_conv2", "block1_conv1", "block3_pool", "block5_conv1")
    model = features.build_feature_extractor(layers=layers, weights=random_vgg19_file, pooling=pooling)
    application = keras.applications.VGG19(include_top=False, weights=random_vgg19_file, pooling=None)
    if pooling == "avg":  # Gatys et al.'s swap, done by hand on the application's graph
        x = inputs = keras.Input((None, None, 3))
        taps = {}
        for layer in application.layers[1:]:
            x = (keras.layers.AveragePooling2D(2, 2) if layer.name.endswith("_pool") else layer)(x)
            taps[layer.name] = x
        application = keras.Model(inputs, [taps[name] for name in layers])
    else:
        application = keras.Model(application.input, [application.get_layer(name).output for name in layers])
    image = _image(rng, 40, 36)
    expected = application(keras.applications.vgg19.preprocess_input(image * 255.0))
    got = model(image)
    assert list(got) == list(layers)
    for name, reference in zip(layers, expected, strict=True):
        scale = float(np.abs(reference).max())
        np.testing.assert_allclose(got[name], reference, rtol=1e-4, atol=1e-4 * scale)
    # Nothing past block5_conv1: block5_conv2..4 (3 x 2.36 M parameters) are not built.
    assert model.count_params() == sum(
        int(np.prod(shape)) + shape[-1] for name, shape in features.BACKBONES["vgg19"].kernel_shapes.items()
        if features.BACKBONES["vgg19"].conv_layers.index(name) <= 12)


def test_unknown_names_raise_value_error_listing_valid_ones():
    with pytest.raises(ValueError, match=r"block6_conv1.*valid names are block1_conv1, block1_conv2"):
        features.build_feature_extractor(layers=("block6_conv1",), weights="random")
    with pytest.raises(ValueError, match="unknown backbone 'resnet50'"):
        features.build_feature_extractor("resnet50", weights="random")
    with pytest.raises(ValueError, match="unknown pooling 'min'"):
        features.build_feature_extractor(layers=("block1_conv1",), pooling="min", weights="random")
    with pytest.raises(ValueError, match="no feature layers"):
        features.build_feature_extractor(layers=(), weights="random")


# ---------------------------------------------------------------------------------------------
# Pooling and weights
# ---------------------------------------------------------------------------------------------


def _pool_2x2(x: np.ndarray, reduce) -> np.ndarray:
    b, h, w, c = x.shape
    return reduce(x[:, : h // 2 * 2, : w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def test_avg_pooling_swaps_pools_and_keeps_weights(rng, random_vgg19_file):
    layers = ("block1_conv2", "block1_pool", "block2_conv1")
    max_model = features.build_feature_extractor(layers=layers, weights=random_vgg19_file)
    avg_model = features.build_feature_extractor(layers=layers, weights=random_vgg19_file, pooling="avg")
    stored = weights.load_weights_file(random_vgg19_file, "vgg19")
    for model in (max_model, avg_model):
        for name in ("block1_conv1", "block1_conv2", "block2_conv1"):
            kernel, bias = model.get_layer(name).get_weights()
            np.testing.assert_array_equal(kernel, stored[name][0])
            np.testing.assert_array_equal(bias, stored[name][1])
    assert isinstance(avg_model.get_layer("block1_pool"), keras.layers.AveragePooling2D)
    image = _image(rng, 18, 22)
    max_out, avg_out = max_model(image), avg_model(image)
    np.testing.assert_allclose(max_out["block1_conv2"], avg_out["block1_conv2"], rtol=1e-5, atol=1e-5)
    conv = np.asarray(max_out["block1_conv2"])
    np.testing.assert_allclose(max_out["block1_pool"], _pool_2x2(conv, np.max), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(avg_out["block1_pool"], _pool_2x2(conv, np.mean), rtol=1e-5, atol=1e-4)
    assert not np.allclose(max_out["block2_conv1"], avg_out["block2_conv1"], atol=1e-3)


def test_mixed_precision_features_are_float16_close_to_float32(rng, random_vgg19_file):
    image = _image(rng, 16, 16)
    reference = features.build_feature_extractor(layers=("block1_conv2",), weights=random_vgg19_file)(image)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = features.build_feature_extractor(layers=("block1_conv2",), weights=random_vgg19_file)
        output = model(image)["block1_conv2"]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert output.dtype == tf.float16
    assert model.get_layer("caffe_preprocess").compute_dtype == "float32"
    scale = float(np.abs(reference["block1_conv2"]).max())
    np.testing.assert_allclose(np.asarray(output, np.float32), reference["block1_conv2"], atol=2e-2 * scale)


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------


def test_min_image_size():
    assert features.min_image_size("vgg19", ("block1_conv1",)) == 1
    assert features.min_image_size("vgg19", ("block1_pool",)) == 2
    assert features.min_image_size("vgg19", ("block4_conv2", "block1_conv1")) == 8
    assert features.min_image_size("vgg19", ("block5_conv1",)) == 16
    assert features.min_image_size("vgg19") == 16  # the default layers reach block5_conv1
    assert features.min_image_size("vgg16", ("block5_pool",)) == 32


def test_min_image_size_is_tight(rng):
    model = features.build_feature_extractor(layers=("block4_conv1",), weights="random")
    assert tuple(model(_image(rng, 8, 8))["block4_conv1"].shape) == (1, 1, 1, 512)
    # One px less and nothing is left after block3_pool: an empty map, or oneDNN refuses the pooling.
    try:
        assert tuple(model(_image(rng, 7, 8))["block4_conv1"].shape)[1] == 0
    except tf.errors.OpError:
        pass


def test_check_image_size_message():
    with pytest.raises(ValueError) as error:
        features.check_image_size(9, 12, "vgg19", ("block5_conv1", "block1_conv1"))
    assert str(error.value) == (
        "image is 12x9 px; the vgg19 layers up to block5_conv1 need at least 16 px on each side")
    features.check_image_size(16, 300)
    with pytest.raises(ValueError, match="at least 16 px"):
        features.check_image_size(300, 15)


# ---------------------------------------------------------------------------------------------
# Real ImageNet weights (resolved like a user's `auto`; skipped when none are on this machine)
# ---------------------------------------------------------------------------------------------


def test_imagenet_block5_features_group_crops_of_one_photo(shared_data, real_vgg_weights):
    """Two crops of one photo are much closer in block5 than either is to a painting.

    With random weights all cosines are ~0.99 and the margin is < 0.01; the trained VGG19 gives
    ~0.68 vs ~0.4 on these images.
    """
    photo = images.load_image(shared_data / "content" / "chelsea_cat.png")  # 300 x 451
    painting = images.resize(images.load_image(shared_data / "style" / "vangogh_starry_night.jpg"), (96, 96))
    crops = [photo[None, :96, :96], photo[None, -96:, -96:], np.asarray(painting)[None]]
    model = features.build_feature_extractor(layers=("block5_conv1",), weights=real_vgg_weights)
    vectors = [np.asarray(model(crop)["block5_conv1"]).mean(axis=(0, 1, 2)) for crop in crops]

    def cosine(u, v):
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    same = cosine(vectors[0], vectors[1])
    assert same > cosine(vectors[0], vectors[2]) + 0.15
    assert same > cosine(vectors[1], vectors[2]) + 0.15

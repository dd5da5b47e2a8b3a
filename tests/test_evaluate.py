"""tfstyle.evaluate: KID / FID against numpy references, the fixed style evaluator against numpy
losses on its own features, KID on real photos and paintings, and the command line."""

import json

import helpers
import keras
import numpy as np
import pytest
import scipy.linalg

from tfstyle import data, images
from tfstyle.evaluate import metrics, stylization, translation

# ---------------------------------------------------------------------------------------------
# Straightforward numpy references
# ---------------------------------------------------------------------------------------------


def reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 (Gretton et al. 2012, eq. 3) with k(a, b) = (a.b/d + 1)^3, written as loops."""
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2.0 * xy


def reference_kid(x, y, subsets, subset_size, seed):
    """KID as `metrics.kid` documents its subsets: per subset, rows of x then rows of y."""
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(x), len(y))
    values = []
    for _ in range(subsets):
        rows_x = rng.choice(len(x), size, replace=False)
        rows_y = rng.choice(len(y), size, replace=False)
        values.append(reference_mmd2(x[rows_x], y[rows_y]))
    return np.mean(values), np.std(values)


def reference_fid(x, y) -> float:
    """FID with scipy's general matrix square root (the reference implementation's recipe)."""
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(cov_x @ cov_y)
    return float(np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(cov_x + cov_y - 2.0 * np.real(root)))


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def test_polynomial_kernel_by_hand():
    kernel = metrics.polynomial_kernel([[1.0, 2.0], [0.0, 0.0]], [[3.0, 4.0]])
    np.testing.assert_allclose(kernel, [[(11 / 2 + 1) ** 3], [1.0]])


def test_mmd2_unbiased_matches_loops(rng):
    x, y = rng.normal(size=(7, 5)), rng.normal(0.5, 1.0, size=(9, 5))
    np.testing.assert_allclose(metrics.mmd2_unbiased(x, y), reference_mmd2(x, y), rtol=1e-12)


def test_kid_matches_numpy_reference(rng):
    x, y = rng.normal(size=(23, 6)), rng.normal(0.3, 1.2, size=(17, 6))
    mean, std = metrics.kid(x, y, subsets=12, subset_size=9, seed=3)
    ref_mean, ref_std = reference_kid(x, y, subsets=12, subset_size=9, seed=3)
    np.testing.assert_allclose([mean, std], [ref_mean, ref_std], rtol=1e-12)
    assert std > 0


def test_kid_clamps_subsets_to_the_smaller_set(rng):
    x, y = rng.normal(size=(8, 4)), rng.normal(size=(6, 4))
    mean, std = metrics.kid(x, y, subsets=5, subset_size=1000)
    np.testing.assert_allclose([mean, std], reference_kid(x, y, 5, 1000, 0), rtol=1e-12)
    assert metrics.kid_subset_size(8, 6) == 6
    whole_mean, whole_std = metrics.kid(x[:6], y, subsets=4, subset_size=50)  # both sets used whole
    assert whole_std == pytest.approx(0.0, abs=1e-12)  # the same rows in another order
    np.testing.assert_allclose(whole_mean, reference_mmd2(x[:6], y), rtol=1e-12)


def test_kid_is_seeded(rng):
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    assert metrics.kid(x, y, 20, 10, seed=1) == metrics.kid(x, y, 20, 10, seed=1)
    assert metrics.kid(x, y, 20, 10, seed=1) != metrics.kid(x, y, 20, 10, seed=2)


def test_kid_near_zero_for_one_distribution_and_large_for_two(rng):
    x, y = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    same_mean, same_std = metrics.kid(x, y, subsets=50, subset_size=100)
    assert abs(same_mean) < 2 * same_std
    shifted_mean, shifted_std = metrics.kid(x, y + 0.5, subsets=50, subset_size=100)
    assert shifted_mean > 5 * shifted_std and shifted_mean > 10 * abs(same_mean)


@pytest.mark.parametrize("rows", [40, 6])  # more rows than features, and singular covariances
def test_fid_matches_scipy(rng, rows):
    x = rng.normal(size=(rows, 10)) @ rng.normal(size=(10, 10))
    y = rng.normal(0.2, 1.5, size=(rows + 3, 10))
    np.testing.assert_allclose(metrics.fid(x, y), reference_fid(x, y), rtol=1e-6)
    np.testing.assert_allclose(metrics.fid(x, y), metrics.fid(y, x), rtol=1e-8)
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_gaussians_by_hand():
    # Two isotropic sets: FID = |mu_x - mu_y|^2 + d (s_x - s_y)^2 for covariances s^2 I.
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # cov = (2/3) I
    y = 3.0 * x + np.array([1.0, 2.0])  # cov = 6 I
    expected = 5.0 + 2 * (np.sqrt(2 / 3) - np.sqrt(6)) ** 2
    np.testing.assert_allclose(metrics.fid(x, y), expected, rtol=1e-10)


def test_trace_sqrt_product_matches_scipy(rng):
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 3))
    cov_x, cov_y = a @ a.T, b @ b.T  # cov_y has rank 3
    expected = np.trace(np.real(scipy.linalg.sqrtm(cov_x @ cov_y)))
    np.testing.assert_allclose(metrics.trace_sqrt_product(cov_x, cov_y), expected, rtol=1e-6)


def test_metrics_reject_bad_input(rng):
    x = rng.normal(size=(5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.kid(x[:1], x)
    with pytest.raises(ValueError, match="feature sizes differ"):
        metrics.fid(x, rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.fid(x, np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="subset"):
        metrics.kid(x, x, subsets=0)
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        metrics.kid(x[0], x)


# ---------------------------------------------------------------------------------------------
# Style evaluation: the numbers are tfstyle.losses on the evaluator's features
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluator():
    return stylization.StyleEvaluator(weights="random", long_side=48)


def _image(rng, height, width):
    return rng.uniform(size=(height, width, 3)).astype(np.float32)


def numpy_gram(features: np.ndarray) -> np.ndarray:
    """[h, w, C] -> [C, C], G = F^T F / (h w)."""
    flat = features.reshape(-1, features.shape[-1])
    return flat.T @ flat / flat.shape[0]


def test_style_scores_follow_the_protocol_in_numpy(evaluator, rng):
    """Resize as documented, then the losses in numpy on the evaluator's VGG19 features:
    content = mean (F - P)^2 at block4_conv2; style = sum_l (1/5) ||G_l - sum_s w_s A_l,s||^2 / (4 C_l^2)."""
    output, content = _image(rng, 40, 60), _image(rng, 80, 120)
    styles = [_image(rng, 50, 50), _image(rng, 30, 70)]
    scores = evaluator.score(output, content, styles, blend=(3.0, 1.0))  # normalised to 0.75, 0.25

    def vgg(image):
        return {layer: np.asarray(value, np.float64)[0] for layer, value in evaluator.extractor(image[None]).items()}

    # Output to long side 48 (40x60 -> 32x48), content to exactly that size, each style to long side 48.
    out, photo = vgg(images.resize(output, (32, 48))), vgg(images.resize(content, (32, 48)))
    paintings = [vgg(images.resize_long_side(style, 48)) for style in styles]
    expected_content = np.mean((out["block4_conv2"] - photo["block4_conv2"]) ** 2)
    expected_layers = {}
    for layer in stylization.STYLE_LAYERS:
        target = 0.75 * numpy_gram(paintings[0][layer]) + 0.25 * numpy_gram(paintings[1][layer])
        channels = target.shape[0]
        expected_layers[layer] = np.sum((numpy_gram(out[layer]) - target) ** 2) / (4.0 * channels**2)

    assert scores.size == (32, 48)
    np.testing.assert_allclose(scores.content_loss, expected_content, rtol=1e-5)
    for layer in stylization.STYLE_LAYERS:
        np.testing.assert_allclose(scores.style_loss_per_layer[layer], expected_layers[layer], rtol=1e-4)
    np.testing.assert_allclose(scores.style_loss, np.mean(list(expected_layers.values())), rtol=1e-4)


def test_style_scores_are_zero_at_their_targets(evaluator, rng):
    style, other = _image(rng, 36, 48), _image(rng, 36, 48)
    as_style = evaluator.score(style, other, [style])
    assert as_style.style_loss == 0.0 and as_style.content_loss > 0.0
    as_content = evaluator.score(other, other, [style])
    assert as_content.content_loss == 0.0 and as_content.style_loss > 0.0


def test_blend_weight_zero_drops_a_style(evaluator, rng):
    output, content, style_a, style_b = (_image(rng, 32, 32) for _ in range(4))
    single = evaluator.score(output, content, [style_a])
    blended = evaluator.score(output, content, [style_a, style_b], blend=(1.0, 0.0))
    np.testing.assert_allclose(blended.style_loss, single.style_loss, rtol=1e-6)


def test_evaluate_row_and_uint8_input(evaluator, rng, tmp_path):
    content = (rng.uniform(size=(30, 40, 3)) * 255).astype(np.uint8)
    path = str(tmp_path / "content.png")
    images.save_image(path, content)
    row = evaluator.evaluate(content, path, [content])
    assert row["output"] is None and row["content"] == path and row["blend"] == [1.0]
    assert row["size"] == {"height": 36, "width": 48}
    assert row["content_loss"] == 0.0 and row["style_loss"] == 0.0
    assert json.loads(json.dumps(row)) == row


def test_evaluate_stylization_reports_its_protocol(rng):
    image = _image(rng, 24, 32)
    result = stylization.evaluate_stylization(image, image, [image], weights="random", long_side=32)
    assert result["content_loss"] == 0.0 and result["style_loss"] == 0.0
    protocol = result["evaluator"]
    assert protocol["weights_source"] == "random" and protocol["long_side"] == 32
    assert protocol["content_layer"] == "block4_conv2" and protocol["pooling"] == "max"
    assert protocol["style_layers"] == [f"block{block}_conv1" for block in range(1, 6)]


def test_avg_pooling_scores_differently_and_says_so(evaluator, rng):
    """The same inputs under average pooling: other features past block1, so other numbers; the
    protocol names the pooling, and block1_conv1 (before any pooling) is the same under both."""
    output, content, style = _image(rng, 32, 48), _image(rng, 32, 48), _image(rng, 40, 40)
    keras.utils.set_random_seed(0)
    max_pooled = stylization.StyleEvaluator(weights="random", long_side=48)
    keras.utils.set_random_seed(0)  # the same random conv weights: only the pooling differs
    avg_pooled = stylization.StyleEvaluator(weights="random", long_side=48, pooling="avg")
    assert (max_pooled.protocol["pooling"], avg_pooled.protocol["pooling"]) == ("max", "avg")
    by_max, by_avg = max_pooled.score(output, content, [style]), avg_pooled.score(output, content, [style])
    np.testing.assert_allclose(by_avg.style_loss_per_layer["block1_conv1"],
                               by_max.style_loss_per_layer["block1_conv1"], rtol=1e-6)
    assert by_avg.content_loss != pytest.approx(by_max.content_loss, rel=1e-3)
    assert by_avg.style_loss != pytest.approx(by_max.style_loss, rel=1e-3)
    with pytest.raises(ValueError, match="unknown pooling 'min'"):
        stylization.StyleEvaluator(weights="random", long_side=48, pooling="min")


def test_style_evaluation_rejects_bad_input(evaluator, rng):
    square = _image(rng, 32, 32)
    with pytest.raises(ValueError, match="aspect ratios"):
        evaluator.score(square, _image(rng, 32, 64), [square])
    with pytest.raises(ValueError, match="2 weights but there are 1"):
        evaluator.score(square, square, [square], blend=(0.5, 0.5))
    with pytest.raises(ValueError, match=">= 0"):
        evaluator.score(square, square, [square, square], blend=(1.0, -1.0))
    with pytest.raises(ValueError, match="at least 16 px"):
        evaluator.score(_image(rng, 8, 64), _image(rng, 8, 64), [square])
    with pytest.raises(ValueError, match="below the 16 px"):
        stylization.StyleEvaluator(weights="random", long_side=12)
    with pytest.raises(FileNotFoundError):
        evaluator.score("/no/such/output.png", square, [square])


# ---------------------------------------------------------------------------------------------
# Translation evaluation
# ---------------------------------------------------------------------------------------------


def _folder(root, name, rng, count, size=(24, 32)):
    folder = root / name
    folder.mkdir()
    for index in range(count):
        images.save_image(str(folder / f"{index:02d}.png"), _image(rng, *size))
    return str(folder)


def test_select_images_samples_with_the_seed(tmp_path, rng):
    folder = _folder(tmp_path, "set", rng, 7)
    everything = translation.select_images(folder)
    assert everything == images.list_images(folder)
    sample = translation.select_images(folder, max_images=4, seed=5)
    assert len(sample) == 4 and sample == sorted(sample) and set(sample) <= set(everything)
    assert translation.select_images(folder, max_images=4, seed=5) == sample
    with pytest.raises(FileNotFoundError):
        translation.select_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="at least 2 images"):
        translation.select_images(_folder(tmp_path, "one", rng, 1))


def test_vgg_features_shape_range_and_batch_independence(tmp_path, rng):
    paths = images.list_images(_folder(tmp_path, "set", rng, 5))
    space = translation.build_feature_space("vgg", weights="random", image_size=32)
    assert (space.kid_name, space.fid_name, space.dimension) == ("KID-VGG", "FID-VGG", 512)
    steps = []
    by_two = translation.extract_features(paths, space, batch_size=2, callback=steps.append)
    by_five = translation.extract_features(paths, space, batch_size=5)
    assert by_two.shape == (5, 512) and by_two.dtype == np.float64
    assert np.all(by_two >= 0)  # averages of ReLU outputs
    np.testing.assert_allclose(by_two, by_five, rtol=1e-4, atol=1e-4)
    assert [(s.done, s.total) for s in steps] == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_build_feature_space_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="unknown features"):
        translation.build_feature_space("clip")
    with pytest.raises(ValueError, match="below"):
        translation.build_feature_space("vgg", weights="random", image_size=8)
    with pytest.raises(FileNotFoundError, match="InceptionV3 weights file not found"):
        translation.build_feature_space("inception", inception_weights=str(tmp_path / "none.h5"))
    not_weights = tmp_path / "not_weights.weights.h5"
    not_weights.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="cannot load InceptionV3"):
        translation.build_feature_space("inception", inception_weights=str(not_weights), image_size=75)


def test_kid_vgg_near_zero_within_photos_and_larger_for_paintings(shared_data, real_vgg_weights):
    """Two random halves of the landmark photos vs one half against the paintings (128 px)."""
    root = shared_data / "unpaired" / "photo2painting"
    space = translation.build_feature_space("vgg", weights=real_vgg_weights, image_size=128)
    photos = translation.extract_features(translation.select_images(root / "A"), space)
    paintings = translation.extract_features(translation.select_images(root / "B"), space)
    order = np.random.default_rng(0).permutation(len(photos))
    half_1, half_2 = photos[order[: len(order) // 2]], photos[order[len(order) // 2:]]

    same_mean, same_std = metrics.kid(half_1, half_2, subsets=100, subset_size=13)
    other_mean, other_std = metrics.kid(half_1, paintings, subsets=100, subset_size=13)
    assert abs(same_mean) < 2 * same_std
    assert other_mean > 2 * other_std and other_mean > 3 * max(abs(same_mean), same_std)
    assert metrics.fid(half_1, paintings[: len(half_1)]) > 1.3 * metrics.fid(half_1, half_2)


@pytest.mark.slow
def test_inception_features_from_a_weights_file(tmp_path, rng):
    keras.utils.set_random_seed(0)
    path = str(tmp_path / "inception.weights.h5")
    keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None).save_weights(path)
    generated, target = _folder(tmp_path, "g", rng, 3), _folder(tmp_path, "t", rng, 3)
    result = translation.evaluate_translation(generated, target, "inception", inception_weights=path,
                                              image_size=75, kid_subsets=5)
    assert {"KID-Inception", "KID-Inception_std", "FID-Inception"} <= set(result)
    assert result["protocol"]["feature_dimension"] == 2048 and result["FID-Inception"] >= 0


# ---------------------------------------------------------------------------------------------
# Command line (subprocesses)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory) -> str:
    """A seeded random VGG19 weights file: the same features in every process."""
    keras.utils.set_random_seed(0)
    path = str(tmp_path_factory.mktemp("vgg19") / "random_vgg19.weights.h5")
    keras.applications.VGG19(include_top=False, weights=None).save_weights(path)
    return path


def _cli(*args, env=None):
    return helpers.run_module("tfstyle.evaluate", *args, extra_env=env)


def test_cli_translation_gives_the_same_numbers_twice(tmp_path, rng, vgg19_file):
    generated, target = _folder(tmp_path, "g", rng, 5), _folder(tmp_path, "t", rng, 4, size=(40, 30))
    results = []
    for run in range(2):
        path = tmp_path / f"result{run}.json"
        completed = _cli("translation", f"--generated={generated}", f"--target={target}",
                         f"--weights={vgg19_file}", "--image_size=32", "--kid_subsets=10", f"--json={path}")
        assert completed.returncode == 0, completed.stderr
        assert "KID-VGG" in completed.stdout and "FID-VGG" in completed.stdout
        results.append(json.loads(path.read_text()))
    assert results[0] == results[1]
    assert results[0]["generated"]["count"] == 5 and results[0]["target"]["count"] == 4
    assert results[0]["protocol"]["kid"]["subset_size"] == 4
    assert np.isfinite(results[0]["KID-VGG"]) and results[0]["FID-VGG"] >= 0


def test_cli_style_table_and_json_match_the_api(tmp_path, rng, vgg19_file):
    outputs = _folder(tmp_path, "outputs", rng, 2, size=(30, 40))
    content = str(tmp_path / "content.png")
    style = str(tmp_path / "style.jpg")
    images.save_image(content, _image(rng, 60, 80))
    images.save_image(style, _image(rng, 50, 50))
    scores = {}
    for pooling in ("max", "avg"):
        path = tmp_path / f"scores_{pooling}.json"
        args = [] if pooling == "max" else ["--pooling=avg"]  # max is the default
        completed = _cli("style", f"--output={outputs}", f"--content={content}", f"--style={style}",
                         f"--weights={vgg19_file}", "--long_side=32", f"--json={path}", *args)
        assert completed.returncode == 0, completed.stderr
        lines = completed.stdout.strip().splitlines()
        assert lines[0] == f"evaluator: vgg19, {pooling} pooling, long side 32 px"
        assert lines[1].split() == ["output", "size", "content_loss", "style_loss"] and len(lines) == 4
        result = json.loads(path.read_text())
        assert result["evaluator"]["long_side"] == 32 and result["evaluator"]["content_layer"] == "block4_conv2"
        assert result["evaluator"]["pooling"] == pooling

        evaluator = stylization.StyleEvaluator(weights=vgg19_file, long_side=32, pooling=pooling)
        for row, output in zip(result["results"], images.list_images(outputs), strict=True):
            expected = evaluator.evaluate(output, content, [style])
            assert row["output"] == output and row["size"] == {"height": 24, "width": 32}
            np.testing.assert_allclose([row["content_loss"], row["style_loss"]],
                                       [expected["content_loss"], expected["style_loss"]], rtol=1e-6)
        scores[pooling] = [row["style_loss"] for row in result["results"]]
    assert not np.allclose(scores["max"], scores["avg"], rtol=1e-3)


@pytest.mark.parametrize("args, message", [
    ((), "usage"),
    (("paint",), "unknown mode"),
    (("style", "--output=/no/such.png", "--content=/no/such.png", "--style=/no/such.png"), "no such file"),
    (("translation", "--generated=/no/such/dir", "--target=/no/such/dir"), "no such directory"),
    (("style", "--generated=/tmp"), "--generated not used by `style`"),
    (("style", "--pooling=min"), "pooling"),
    (("translation", "--pooling=avg"), "--pooling not used by `translation`"),
])
def test_cli_bad_input_gives_one_error_line(args, message):
    assert message in helpers.one_error_line(_cli(*args))


def test_cli_aspect_mismatch_fails_before_the_work_and_writes_nothing(tmp_path, rng):
    output, content = str(tmp_path / "out.png"), str(tmp_path / "content.png")
    images.save_image(output, _image(rng, 20, 40))
    images.save_image(content, _image(rng, 40, 40))
    path = tmp_path / "scores.json"
    line = helpers.one_error_line(_cli("style", f"--output={output}", f"--content={content}", f"--style={content}",
                                f"--json={path}"))
    assert "aspect ratios" in line and not path.exists()


def test_cli_inception_offline_without_weights(tmp_path, rng):
    if data.host_reachable("https://storage.googleapis.com/", timeout=3.0):
        pytest.skip("online: Keras would download the InceptionV3 weights")
    generated, target = _folder(tmp_path, "g", rng, 2), _folder(tmp_path, "t", rng, 2)
    line = helpers.one_error_line(_cli("translation", f"--generated={generated}", f"--target={target}",
                                "--features=inception", env={"KERAS_HOME": str(tmp_path / "keras")}))
    assert "--inception_weights" in line and "--features=vgg" in line

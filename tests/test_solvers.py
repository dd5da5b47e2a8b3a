"""Tests for tfstyle.optimize.solvers: Adam and in-graph L-BFGS on small problems with known answers."""

import textwrap

import helpers
import keras
import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf

from tfstyle import losses
from tfstyle.optimize import solvers

SHAPE = (2, 4, 4, 3)


def rosenbrock(x):
    """f(a, b) = 100 (b - a^2)^2 + (1 - a)^2 on x of shape [1, 1, 1, 2]; minimum 0 at (1, 1)."""
    a, b = x[..., 0], x[..., 1]
    value = tf.reduce_sum(100.0 * tf.square(b - tf.square(a)) + tf.square(1.0 - a))
    return value, {"rosenbrock": value}


def make_quadratic(condition: float, seed: int = 0):
    """f(x) = 1/2 (x - c)^T A (x - c) over the flattened [2, 4, 4, 3] x; A SPD with the given condition."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(SHAPE))
    basis, _ = np.linalg.qr(rng.standard_normal((n, n)))
    matrix = (basis * np.logspace(0, np.log10(condition), n)) @ basis.T
    centre = rng.uniform(0.0, 1.0, SHAPE).astype(np.float32)
    a, c = tf.constant(matrix, tf.float32), tf.constant(centre)

    def loss_fn(x):
        d = tf.reshape(x - c, [-1])
        value = 0.5 * tf.reduce_sum(d * tf.linalg.matvec(a, d))
        return value, {"quadratic": value}

    return loss_fn, matrix, centre


def make_style_like(seed: int = 0):
    """Smooth non-convex loss built from the repo losses: content MSE plus a Gram (style) term on x itself."""
    rng = np.random.default_rng(seed)
    content = tf.constant(rng.uniform(0.0, 1.0, (1, 4, 4, 3)), tf.float32)
    style_gram = losses.gram_matrix(tf.constant(rng.uniform(0.0, 1.0, (1, 4, 4, 3)), tf.float32))

    def loss_fn(x):
        content_term = losses.content_loss(x, content)
        style_term = losses.style_loss(x, style_gram)
        return content_term + 10.0 * style_term, {"content": content_term, "style": style_term}

    return loss_fn


def test_adam_matches_keras_adam(rng):
    target = tf.constant(rng.uniform(-1.0, 2.0, SHAPE), tf.float32)

    def loss_fn(x):
        value = tf.reduce_sum(tf.math.log(tf.cosh(x - target))) + 0.1 * tf.reduce_sum(x**4)
        return value, {}

    x0 = rng.uniform(0.0, 1.0, SHAPE).astype(np.float32)
    variable = keras.Variable(x0)
    optimizer = keras.optimizers.Adam(learning_rate=0.1, epsilon=1e-7)
    keras_losses = []
    for _ in range(5):
        with tf.GradientTape() as tape:
            value, _ = loss_fn(variable)
        keras_losses.append(float(value))
        optimizer.apply_gradients([(tape.gradient(value, variable), variable)])

    state, loss, terms = solvers.adam_run(
        loss_fn, solvers.adam_init(x0), 5, learning_rate=0.1, epsilon=1e-7, clip=None
    )
    np.testing.assert_allclose(state.x.numpy(), variable.numpy(), rtol=1e-5, atol=1e-6)
    assert int(state.step) == 5
    assert terms == {}
    # adam_run reports the loss of the last evaluated iterate: the one before the 5th update.
    np.testing.assert_allclose(float(loss), keras_losses[-1], rtol=1e-6)
    assert not np.allclose(state.x.numpy(), x0)


def test_adam_projects_onto_box(rng):
    centre = rng.uniform(-0.5, 1.5, SHAPE).astype(np.float32)

    def loss_fn(x):
        return tf.reduce_sum(tf.square(x - centre)), {}

    state, _, _ = solvers.adam_run(loss_fn, solvers.adam_init(np.full(SHAPE, 0.5, np.float32)), 300, 0.02)
    x = state.x.numpy()
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_allclose(x, np.clip(centre, 0.0, 1.0), atol=0.02)


def test_adam_zero_iterations_evaluates_without_moving(rng):
    loss_fn = make_style_like()
    x0 = rng.uniform(0.0, 1.0, SHAPE).astype(np.float32)
    state, loss, terms = solvers.adam_run(loss_fn, solvers.adam_init(x0), 0)
    np.testing.assert_array_equal(state.x.numpy(), x0)
    assert int(state.step) == 0
    np.testing.assert_allclose(float(loss), float(loss_fn(tf.constant(x0))[0]), rtol=1e-6)
    assert set(terms) == {"content", "style"}


def test_quadratic_lbfgs_beats_adam_and_gradient_descent():
    loss_fn, matrix, centre = make_quadratic(condition=300.0)
    x0 = np.zeros(SHAPE, np.float32)
    initial = float(loss_fn(tf.constant(x0))[0])
    iterations = 40

    state = solvers.lbfgs_init(loss_fn, x0, history_size=10)
    chunk_losses = [initial]
    for _ in range(4):
        state, loss, terms = solvers.lbfgs_run(loss_fn, state, iterations // 4)
        chunk_losses.append(float(loss))
        np.testing.assert_allclose(float(terms["quadratic"]), float(loss))
    lbfgs_loss = chunk_losses[-1]
    assert all(b <= a for a, b in zip(chunk_losses, chunk_losses[1:], strict=False))  # Armijo: monotone
    np.testing.assert_allclose(float(loss), float(loss_fn(state.x)[0]), rtol=1e-5)  # loss of the returned x
    assert int(state.step) == iterations
    assert iterations + 1 <= int(state.evaluations) <= 2 * iterations

    adam_state, _, _ = solvers.adam_run(loss_fn, solvers.adam_init(x0), iterations, 0.05, clip=None)
    adam_loss = float(loss_fn(adam_state.x)[0])

    d = (x0 - centre).ravel().astype(np.float64)  # gradient descent with the optimal fixed step 1 / L
    step = 1.0 / np.linalg.eigvalsh(matrix).max()
    for _ in range(iterations):
        d = d - step * (matrix @ d)
    gd_loss = 0.5 * d @ matrix @ d

    assert adam_loss < initial and gd_loss < initial
    assert lbfgs_loss < 1e-2 * min(adam_loss, gd_loss)
    assert lbfgs_loss < 1e-4 * initial


def test_lbfgs_rosenbrock_converges_to_one_one():
    x0 = np.array([-1.2, 1.0], np.float32).reshape(1, 1, 1, 2)
    state = solvers.lbfgs_init(rosenbrock, x0, history_size=5)
    state, loss, terms = tf.function(lambda s: solvers.lbfgs_run(rosenbrock, s, 80, clip=None))(state)
    np.testing.assert_allclose(state.x.numpy().ravel(), [1.0, 1.0], atol=1e-3)
    assert float(loss) < 1e-6
    assert float(terms["rosenbrock"]) == float(loss)


def test_lbfgs_matches_scipy_lbfgsb():
    """Regularised logistic regression, 12 unknowns shaped [1, 2, 2, 3]: same minimum as scipy."""
    rng = np.random.default_rng(1)
    features = rng.standard_normal((40, 12))
    labels = np.sign(features @ rng.standard_normal(12) + 0.5 * rng.standard_normal(40))
    penalty = 0.05

    def numpy_loss(w):
        margins = labels * (features @ w)
        value = np.mean(np.logaddexp(0.0, -margins)) + 0.5 * penalty * w @ w
        grad = -features.T @ (labels / (1.0 + np.exp(margins))) / len(labels) + penalty * w
        return value, grad

    reference = scipy.optimize.minimize(numpy_loss, np.zeros(12), jac=True, method="L-BFGS-B", tol=1e-12)
    z, t = tf.constant(features, tf.float32), tf.constant(labels, tf.float32)

    def loss_fn(x):
        w = tf.reshape(x, [12])
        value = tf.reduce_mean(tf.nn.softplus(-t * tf.linalg.matvec(z, w))) + 0.5 * penalty * tf.reduce_sum(
            w * w
        )
        return value, {}

    state = solvers.lbfgs_init(loss_fn, np.zeros((1, 2, 2, 3), np.float32), history_size=10)
    state, loss, _ = solvers.lbfgs_run(loss_fn, state, 60, clip=None)
    np.testing.assert_allclose(float(loss), reference.fun, rtol=1e-5)
    np.testing.assert_allclose(state.x.numpy().ravel(), reference.x, atol=2e-3)


def test_lbfgs_is_scale_free_and_keeps_its_history():
    """Regression: the curvature test once compared y.s with 1e-10 y.y, so at the loss scale of style
    transfer (~1e12) every pair was skipped and L-BFGS fell back to fixed-step gradient descent."""
    loss_fn, _, _ = make_quadratic(condition=300.0)

    def scaled(x):
        value, _ = loss_fn(x)
        return 1e12 * value, {}

    x0 = np.zeros(SHAPE, np.float32)
    runs = {}
    for name, fn in (("unit", loss_fn), ("scaled", scaled)):
        state = solvers.lbfgs_init(fn, x0, history_size=5)
        state, loss, _ = solvers.lbfgs_run(fn, state, 12, clip=None)
        runs[name] = (state, float(loss) / float(fn(tf.constant(x0))[0]))
    assert int(runs["scaled"][0].count) == 5  # every pair of a convex problem is kept
    np.testing.assert_allclose(runs["scaled"][0].x.numpy(), runs["unit"][0].x.numpy(), atol=1e-4)
    np.testing.assert_allclose(runs["scaled"][1], runs["unit"][1], rtol=1e-2)
    assert runs["scaled"][1] < 1e-2


def test_lbfgs_box_matches_scipy_lbfgsb_with_bounds():
    """Quadratic whose unconstrained minimum lies partly outside [0, 1]: same answer as L-BFGS-B."""
    loss_fn, matrix, centre = make_quadratic(condition=30.0, seed=2)
    centre = 2.0 * centre - 0.5  # about half the coordinates of the minimum leave [0, 1]
    c = tf.constant(centre)
    a = tf.constant(matrix, tf.float32)

    def boxed_loss(x):
        d = tf.reshape(x - c, [-1])
        return 0.5 * tf.reduce_sum(d * tf.linalg.matvec(a, d)), {}

    def numpy_loss(v):
        d = v - centre.ravel()
        return 0.5 * d @ matrix @ d, matrix @ d

    n = int(np.prod(SHAPE))
    reference = scipy.optimize.minimize(numpy_loss, np.full(n, 0.5), jac=True, method="L-BFGS-B",
                                        bounds=[(0.0, 1.0)] * n, options={"ftol": 1e-14, "gtol": 1e-10})
    state = solvers.lbfgs_init(boxed_loss, np.full(SHAPE, 0.5, np.float32), history_size=10)
    state, loss, _ = solvers.lbfgs_run(boxed_loss, state, 100)
    x = state.x.numpy()
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.mean((x == 0.0) | (x == 1.0)) > 0.2  # the bounds are active
    np.testing.assert_allclose(float(loss), reference.fun, rtol=1e-3)
    np.testing.assert_allclose(x.ravel(), reference.x, atol=5e-3)


def test_lbfgs_backtracks_out_of_nan_region():
    """f = sum (x - 3)^2 - log(2 - x) is NaN for x > 2; the minimiser (10 - sqrt 12) / 4 lies just inside."""

    def loss_fn(x):
        return tf.reduce_sum(tf.square(x - 3.0) - tf.math.log(2.0 - x)), {}

    state = solvers.lbfgs_init(loss_fn, np.zeros((1, 2, 2, 1), np.float32), history_size=4)
    state, loss, _ = solvers.lbfgs_run(loss_fn, state, 30, first_step=1.0, clip=None)
    assert np.isfinite(float(loss))
    np.testing.assert_allclose(state.x.numpy(), (10.0 - np.sqrt(12.0)) / 4.0, atol=1e-3)


def test_lbfgs_failed_line_search_resets_and_stays():
    """Every trial point is NaN: x, loss and gradient stay, history stays empty, each try is counted."""
    x0 = np.full((1, 2, 2, 3), 0.5, np.float32)

    def loss_fn(x):
        value = tf.reduce_sum(x * x)
        return tf.where(tf.reduce_all(tf.equal(x, x0)), value, np.nan), {}

    state = solvers.lbfgs_init(loss_fn, x0, history_size=3)
    state, loss, _ = solvers.lbfgs_run(loss_fn, state, 4, max_line_search=5)
    np.testing.assert_array_equal(state.x.numpy(), x0)
    assert float(loss) == pytest.approx(3.0)
    assert int(state.count) == 0
    assert int(state.evaluations) == 1 + 4 * 5
    assert int(state.step) == 4


@pytest.mark.parametrize("kind", ["adam", "lbfgs"])
def test_two_runs_equal_one_run_of_the_sum(kind, rng):
    loss_fn = make_style_like()
    x0 = rng.uniform(0.0, 1.0, SHAPE).astype(np.float32)
    chunked = solvers.Solver(kind, loss_fn, x0, learning_rate=0.05, history_size=4)
    chunked.run(7)
    loss_chunked, terms_chunked = chunked.run(5)
    whole = solvers.Solver(kind, loss_fn, x0, learning_rate=0.05, history_size=4)
    loss_whole, terms_whole = whole.run(12)
    for a, b in zip(tf.nest.flatten(chunked.state), tf.nest.flatten(whole.state), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert float(loss_chunked) == float(loss_whole)
    assert float(terms_chunked["style"]) == float(terms_whole["style"])
    assert int(chunked.state.step) == 12
    assert float(loss_whole) < float(loss_fn(tf.constant(x0))[0])


@pytest.mark.parametrize("kind", ["adam", "lbfgs"])
def test_solver_traces_once(kind):
    loss_fn, _, _ = make_quadratic(condition=10.0)
    solver = solvers.Solver(kind, loss_fn, np.zeros(SHAPE, np.float32))
    first, _ = solver.run(3)
    second, _ = solver.run(3)
    solver.run(5)
    assert solver.tracing_count == 1
    assert float(second) < float(first)
    assert solver.image.shape == SHAPE


def test_solver_rejects_bad_arguments():
    loss_fn, _, _ = make_quadratic(condition=10.0)
    x0 = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match="sgd"):
        solvers.Solver("sgd", loss_fn, x0)
    with pytest.raises(ValueError, match="history_size"):
        solvers.Solver("lbfgs", loss_fn, x0, history_size=0)
    with pytest.raises(ValueError, match="learning_rate"):
        solvers.Solver("adam", loss_fn, x0, learning_rate=0.0)
    with pytest.raises(ValueError, match="does not depend"):
        solvers.lbfgs_init(lambda x: (tf.constant(1.0), {}), x0)


@pytest.mark.parametrize("kind", ["adam", "lbfgs"])
def test_jit_compile_matches_graph_with_dynamic_batch(kind, rng):
    loss_fn = make_style_like()

    def optimise(x, iterations):
        if kind == "adam":
            state, loss, _ = solvers.adam_run(loss_fn, solvers.adam_init(x), iterations, 0.05)
        else:
            state, loss, _ = solvers.lbfgs_run(loss_fn, solvers.lbfgs_init(loss_fn, x, 4), iterations)
        return state.x, loss

    signature = [tf.TensorSpec([None, 4, 4, 3], tf.float32), tf.TensorSpec([], tf.int32)]
    graph = tf.function(optimise, input_signature=signature)
    compiled = tf.function(optimise, input_signature=signature, jit_compile=True)
    for batch in (1, 3):
        x0 = tf.constant(rng.uniform(0.0, 1.0, (batch, 4, 4, 3)), tf.float32)
        x_graph, loss_graph = graph(x0, tf.constant(8))
        x_xla, loss_xla = compiled(x0, tf.constant(8))
        assert x_xla.shape == (batch, 4, 4, 3)
        np.testing.assert_allclose(x_xla.numpy(), x_graph.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(float(loss_xla), float(loss_graph), rtol=1e-4)
        assert float(loss_graph) < float(loss_fn(x0)[0])


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    sys.path.insert(0, sys.argv[2])  # tests/: the same loss as the in-process tests
    from test_solvers import make_style_like
    from tfstyle.optimize import solvers

    loss_fn = make_style_like()

    def replica_fn(x):
        lbfgs_state = solvers.lbfgs_init(loss_fn, x, history_size=4)
        lbfgs_state, lbfgs_loss, _ = solvers.lbfgs_run(loss_fn, lbfgs_state, 12)
        adam_state, adam_loss, _ = solvers.adam_run(loss_fn, solvers.adam_init(x), 12, 0.05)
        return lbfgs_state.x, lbfgs_loss, adam_state.x, adam_loss

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x0 = np.random.default_rng(0).uniform(0.0, 1.0, (4, 4, 4, 3)).astype(np.float32)
    per_replica = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(x0[2 * context.replica_id_in_sync_group:][:2])
    )
    distributed = tf.function(lambda x: strategy.run(replica_fn, args=(x,)))(per_replica)
    alone = tf.function(replica_fn)
    results = {"replicas": np.array(strategy.num_replicas_in_sync)}
    for i, name in enumerate(["lbfgs_x", "lbfgs_loss", "adam_x", "adam_loss"]):
        local = strategy.experimental_local_results(distributed[i])
        results["distributed_" + name] = np.stack([v.numpy() for v in local])
        results["alone_" + name] = np.stack([alone(x0[2 * r:][:2])[i].numpy() for r in range(2)])
    np.savez(sys.argv[1], **results)
    """
)


def test_mirrored_replicas_equal_running_each_slice_alone(tmp_path):
    output = tmp_path / "results.npz"
    script = tmp_path / "mirrored_solvers.py"
    script.write_text(_MIRRORED_SCRIPT)
    completed = helpers.run_script(script, output, helpers.REPO / "tests", extra_env={"CUDA_VISIBLE_DEVICES": ""})
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = np.load(output)
    assert int(results["replicas"]) == 2
    for name in ("lbfgs_x", "lbfgs_loss", "adam_x", "adam_loss"):
        np.testing.assert_allclose(
            results["distributed_" + name], results["alone_" + name], rtol=1e-6, atol=1e-7
        )
    # The two replicas optimised different images.
    assert not np.allclose(results["distributed_lbfgs_x"][0], results["distributed_lbfgs_x"][1])

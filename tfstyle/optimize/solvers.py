"""Image-space optimisers for Gatys-style transfer: Adam and L-BFGS as pure tensor functions.

In neural style transfer the *image* is the variable (Gatys, Ecker & Bethge 2016, sec. 2:
"we perform gradient descent on a white noise image"). The solvers here are written so that
the same code serves two callers:

* one image driven from Python in chunks of iterations (progress between chunks), through
  `Solver`, a thin driver around one `tf.function` with a fixed input signature;
* a batch split over the replicas of a `tf.distribute` strategy (`tfstyle.optimize.transfer`,
  what `stylize()` runs), where each replica calls `init` / `run` inside `strategy.run` on its
  own slice.

Both go through `init` / `run`, the one dispatch from a solver name to its functions. The images are independent, so
  nothing is all-reduced: `tf.GradientTape.gradient` in a replica context is local.

Hence: no `tf.Variable` and no Python-side state. A solver state is a `NamedTuple` of tensors
(a nest, so it passes through `tf.function`, `strategy.run` and `tf.while_loop` unchanged), and
the iteration loop is a `tf.while_loop` inside the graph. `iterations` may be a Python int or an
int32 scalar tensor; batch size may be static or dynamic (`None`).

A run of k iterations costs k loss+gradient evaluations in the common case. The L-BFGS state
carries the loss and gradient at its iterate (one evaluation in `lbfgs_init`), so `lbfgs_run`
returns the loss *of the image it returns*; Adam's state is just (x, m, v, step), and
`adam_run` returns the loss of the last iterate it evaluated, the one before its final update.

The loss function contract (`LossFn`)::

    loss_fn(x: float32 [B, H, W, 3]) -> (total: float32 scalar, terms: dict[str, float32 scalar])

`terms` (e.g. ``{"content": ..., "style": ..., "tv": ...}``) are reported, not optimised; its
keys must be the same on every call. Use ``{}`` when there is nothing to report.

XLA: both `*_run` functions compile under ``tf.function(jit_compile=True)``: the loops are
`tf.while_loop`s with a data-dependent trip count but fixed shapes, which XLA supports. With a
dynamic batch dimension in the signature the function is traced once and XLA compiles one
executable per concrete batch size it meets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

logger = logging.getLogger(__name__)

LossFn = Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]]

SOLVERS = ("adam", "lbfgs")


def _evaluate(loss_fn: LossFn, x: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor], tf.Tensor]:
    """One loss+gradient evaluation at `x`: returns (loss f32 scalar, terms, grad shaped like x)."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        loss, terms = loss_fn(x)
        loss = tf.cast(loss, tf.float32)
    grad = tape.gradient(loss, x)
    if grad is None:
        raise ValueError("loss_fn(x) does not depend on x: its gradient with respect to the image is None")
    terms = {name: tf.cast(value, tf.float32) for name, value in dict(terms).items()}
    return loss, terms, tf.cast(grad, tf.float32)


def _dot(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Inner product <a, b> over every element (the image is one flat vector): f32 scalar."""
    return tf.reduce_sum(a * b)


# ---------------------------------------------------------------------------------------------
# Adam
# ---------------------------------------------------------------------------------------------


class AdamState(NamedTuple):
    """Adam state for one image batch.

    Attributes:
        x: float32 [B, H, W, 3], current iterate (the image; [0, 1] when clipping is on).
        m: float32 like x, first-moment estimate (paper m_t, not bias-corrected).
        v: float32 like x, second raw-moment estimate (paper v_t, not bias-corrected).
        step: int32 scalar, updates taken so far (paper t).
    """

    x: tf.Tensor
    m: tf.Tensor
    v: tf.Tensor
    step: tf.Tensor


def adam_init(x) -> AdamState:
    """Start Adam at `x` with zero moments (no evaluation).

    Args:
        x: float [B, H, W, 3], the starting image (cast to float32; not clipped here).

    Returns:
        AdamState with step 0.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    zeros = tf.zeros_like(x)
    return AdamState(x=x, m=zeros, v=zeros, step=tf.constant(0, tf.int32))


def adam_run(
    loss_fn: LossFn,
    state: AdamState,
    iterations,
    learning_rate=1e-2,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> tuple[AdamState, tf.Tensor, dict[str, tf.Tensor]]:
    """Take `iterations` Adam steps on the image (Kingma & Ba 2015, algorithm 1).

    With g the gradient at x and t the 1-based step::

        m <- beta_1 m + (1 - beta_1) g
        v <- beta_2 v + (1 - beta_2) g^2
        alpha_t = learning_rate * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        x <- x - alpha_t m / (sqrt(v) + epsilon)
        x <- clip(x, lo, hi)                       # projection, only if `clip` is given

    This is the paper's "more efficient" ordering (end of sec. 2): bias correction folded into
    the step size, so `epsilon` is the paper's epsilon-hat. It is the update of
    `keras.optimizers.Adam` (whose default epsilon is 1e-7, not 1e-8). Deviation: the
    projection onto [lo, hi] after each step (projected gradient), which keeps the image a valid
    picture; the moments are not touched by it.

    Cost: one loss+gradient evaluation per update, at the iterate being updated. So the
    returned loss and terms are those of the *last evaluated* iterate, the image before the
    final update (as with a Keras training loop); with `iterations` 0 the loss at `state.x` is
    evaluated and nothing moves. Two runs of k1 and k2 iterations give the same iterates as one
    run of k1 + k2.

    Args:
        loss_fn: see `LossFn`.
        state: from `adam_init` or a previous `adam_run`.
        iterations: int or int32 scalar tensor >= 0, number of updates.
        learning_rate: float or float32 scalar tensor, alpha in the paper, in units of x per step
            (for [0, 1] images, 1e-2 moves a pixel by at most about 2.5 grey levels).
        beta_1: exponential decay of the first moment.
        beta_2: exponential decay of the second moment.
        epsilon: epsilon-hat, added to sqrt(v).
        clip: (lo, hi) box the image is projected onto after every step, or None.

    Returns:
        (new state, loss float32 scalar, terms) with loss and terms at the last evaluated iterate.
    """
    learning_rate = tf.cast(learning_rate, tf.float32)
    iterations = tf.cast(iterations, tf.int32)

    def update(state: AdamState, grad: tf.Tensor) -> AdamState:
        t = tf.cast(state.step + 1, tf.float32)
        alpha = learning_rate * tf.sqrt(1.0 - tf.pow(beta_2, t)) / (1.0 - tf.pow(beta_1, t))
        m = state.m + (grad - state.m) * (1.0 - beta_1)
        v = state.v + (tf.square(grad) - state.v) * (1.0 - beta_2)
        x = state.x - alpha * m / (tf.sqrt(v) + epsilon)
        if clip is not None:
            x = tf.clip_by_value(x, clip[0], clip[1])
        return AdamState(x=x, m=m, v=v, step=state.step + 1)

    def body(i, state, loss, terms, grad):
        state = update(state, grad)
        loss, terms, grad = _evaluate(loss_fn, state.x)
        return i + 1, state, loss, terms, grad

    # The first evaluation is peeled off the loop so that the loop carries (loss, terms, grad)
    # with a known structure: evaluate, then (update, evaluate) x (k - 1), then a last update.
    loss, terms, grad = _evaluate(loss_fn, state.x)
    _, state, loss, terms, grad = tf.while_loop(
        lambda i, *_: i < iterations - 1, body, (tf.constant(0, tf.int32), state, loss, terms, grad)
    )
    state = tf.cond(iterations > 0, lambda: update(state, grad), lambda: state)
    return state, loss, terms


# ---------------------------------------------------------------------------------------------
# L-BFGS
# ---------------------------------------------------------------------------------------------


class LbfgsState(NamedTuple):
    """L-BFGS state for one image batch, treated as one flat vector of B*H*W*3 unknowns.

    The history is a circular buffer: pair k (0 = newest) lives in slot (head - 1 - k) mod m.

    Attributes:
        x: float32 [B, H, W, 3], current iterate x_k.
        loss: float32 scalar, f(x_k).
        terms: dict of float32 scalars, loss terms at x_k.
        grad: float32 like x, gradient g_k = grad f(x_k).
        s_history: float32 [m, B, H, W, 3], s_i = x_{i+1} - x_i of the stored pairs.
        y_history: float32 [m, B, H, W, 3], y_i = g_{i+1} - g_i of the stored pairs.
        rho: float32 [m], rho_i = 1 / (y_i . s_i).
        head: int32 scalar in [0, m), slot the next pair is written to.
        count: int32 scalar in [0, m], number of valid pairs (0 after a reset).
        gamma: float32 scalar, initial inverse-Hessian scale H_k^0 = gamma I, gamma = s.y / y.y
            of the newest pair (Nocedal & Wright eq. 7.20); 1 when count is 0.
        step: int32 scalar, iterations taken so far.
        evaluations: int32 scalar, loss+gradient evaluations so far (including the one in init).
    """

    x: tf.Tensor
    loss: tf.Tensor
    terms: dict[str, tf.Tensor]
    grad: tf.Tensor
    s_history: tf.Tensor
    y_history: tf.Tensor
    rho: tf.Tensor
    head: tf.Tensor
    count: tf.Tensor
    gamma: tf.Tensor
    step: tf.Tensor
    evaluations: tf.Tensor


def lbfgs_init(loss_fn: LossFn, x, history_size: int = 10) -> LbfgsState:
    """Start L-BFGS at `x`: empty history, one loss+gradient evaluation.

    Args:
        loss_fn: see `LossFn`.
        x: float [B, H, W, 3] (any shape works), the starting image, cast to float32.
        history_size: m, number of (s, y) pairs kept (Nocedal & Wright suggest 3..20). Memory
            is 2 m copies of x.

    Returns:
        LbfgsState with step 0, count 0 and evaluations 1.
    """
    if history_size < 1:
        raise ValueError(f"history_size must be >= 1, got {history_size}")
    x = tf.convert_to_tensor(x, tf.float32)
    loss, terms, grad = _evaluate(loss_fn, x)
    history = tf.zeros(tf.concat([[history_size], tf.shape(x)], axis=0))  # (m, *x.shape)
    return LbfgsState(
        x=x,
        loss=loss,
        terms=terms,
        grad=grad,
        s_history=history,
        y_history=history,
        rho=tf.zeros([history_size], tf.float32),
        head=tf.constant(0, tf.int32),
        count=tf.constant(0, tf.int32),
        gamma=tf.constant(1.0, tf.float32),
        step=tf.constant(0, tf.int32),
        evaluations=tf.constant(1, tf.int32),
    )


def _two_loop_direction(state: LbfgsState, grad: tf.Tensor) -> tf.Tensor:
    """Search direction d = -H_k g by the two-loop recursion (Nocedal & Wright alg. 7.4).

    Pairs are visited newest to oldest (first loop) then oldest to newest (second loop); only
    the `count` valid ones. With count 0 this is d = -g. `grad` is g_k, or g_k with the
    components held at a bound zeroed (projected run).
    """
    history_size = tf.shape(state.rho)[0]

    def slot(k):  # k = 0 is the newest pair
        return tf.math.floormod(state.head - 1 - k, history_size)

    def first(k, q, alphas):
        i = slot(k)
        alpha = state.rho[i] * _dot(state.s_history[i], q)
        return k + 1, q - alpha * state.y_history[i], tf.tensor_scatter_nd_update(alphas, [[i]], [alpha])

    _, q, alphas = tf.while_loop(
        lambda k, q, alphas: k < state.count,
        first,
        (tf.constant(0, tf.int32), grad, tf.zeros_like(state.rho)),
    )
    r = state.gamma * q

    def second(k, r):
        i = slot(k)
        beta = state.rho[i] * _dot(state.y_history[i], r)
        return k - 1, r + (alphas[i] - beta) * state.s_history[i]

    _, r = tf.while_loop(lambda k, r: k >= 0, second, (state.count - 1, r))
    return -r


def lbfgs_run(
    loss_fn: LossFn,
    state: LbfgsState,
    iterations,
    max_line_search: int = 10,
    first_step: float = 1e-2,
    armijo: float = 1e-4,
    curvature_epsilon: float = 1e-10,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> tuple[LbfgsState, tf.Tensor, dict[str, tf.Tensor]]:
    """Take `iterations` L-BFGS iterations (Nocedal & Wright 2006, alg. 7.5 with alg. 7.4).

    One iteration, with g = grad f(x) and P the projection onto the box [lo, hi] (identity when
    `clip` is None)::

        F = pixels not held at a bound (held: x = lo with g > 0, or x = hi with g < 0)
        d = -H g_F on F, 0 elsewhere              # two-loop recursion over the last m pairs
        t = 1, or first_step / max|g_F| without history (see below)
        while f(P(x + t d)) > f(x) + armijo * g.(P(x + t d) - x) and tries < max_line_search:
            t <- t / 2
        s = P(x + t d) - x,  y = g(P(x + t d)) - g
        keep (s, y) only if y.s > curvature_epsilon * |g.s|    (curvature condition)
        gamma = s.y / y.y                         # H^0 = gamma I for the next iteration (eq. 7.20)

    Choices and deviations from the book, which uses a Wolfe line search:

    * Line search: backtracking Armijo (sufficient decrease only), halving, at most
      `max_line_search` trials. Each trial evaluates loss *and* gradient, so the common case (first
      trial accepted) costs exactly one evaluation per iteration. Without the curvature (second
      Wolfe) condition, y.s > 0 is not guaranteed; such pairs are skipped, not stored.
    * Curvature test: y.s against the first-order change |g.s| (as L-BFGS-B does), so that it
      does not depend on the scale of f. A test on gamma = y.s / y.y alone has units of
      x / gradient: at the loss scale of style transfer (~1e12) gamma is ~1e-11 and such a test
      rejected every pair, leaving a fixed-step gradient descent (regression test in test_solvers.py).
    * Box: with `clip` (the default, [0, 1] like Adam) this is a projected L-BFGS: pixels that
      the gradient pushes against a bound are frozen for the iteration, trial points are projected
      onto the box and the Armijo test uses the projected step. It is a simple active-set
      heuristic, not the Cauchy-point/subspace machinery of L-BFGS-B (Byrd et al. 1995), but on
      style transfer it tracks scipy's L-BFGS-B per iteration. `x` must start inside the box.
      With `clip` None the image may leave [0, 1] and the caller clips the final image, which
      can raise the loss by a large factor.
    * First step: with no history (iteration 0, after a reset) d = -g, whose scale is arbitrary;
      the trial step is then t = first_step / max|g|, so the largest element of x moves by
      `first_step` (units of x: 1e-2 is about 2.5 grey levels for a [0, 1] image). With history,
      d is already scaled by gamma and t = 1.
    * Failure: if d is not a descent direction (g.d >= 0, numerically possible) the history is
      dropped and d = -g. If no trial satisfies the Armijo condition the history is reset too;
      the last (smallest) trial point is kept if it lowered f at all, else x stays put. The next
      iteration then starts afresh with a first-step-scaled gradient step. Non-finite trial
      losses count as failed trials.
    * The batch is one vector: B images share one history and one step length. For images that
      are independent (block-diagonal Hessian) this is still a valid L-BFGS, but not identical to
      B separate runs; run per-replica slices for that.

    Args:
        loss_fn: see `LossFn`.
        state: from `lbfgs_init` or a previous `lbfgs_run`; the history carries over, so two
            runs of k1 and k2 iterations give the same iterates as one run of k1 + k2.
        iterations: int or int32 scalar tensor >= 0.
        max_line_search: most loss+gradient evaluations per iteration (>= 1).
        first_step: largest element change of a history-less step, units of x.
        armijo: c1 of the sufficient-decrease condition, in (0, 1).
        curvature_epsilon: pairs with y.s <= curvature_epsilon * |g.s| are skipped (unitless).
        clip: (lo, hi) box the image is kept in (projected L-BFGS), or None for unconstrained.

    Returns:
        (new state, f at the returned x: float32 scalar, terms at the returned x). f never
        increases from one iteration to the next.
    """
    if max_line_search < 1:
        raise ValueError(f"max_line_search must be >= 1, got {max_line_search}")
    iterations = tf.cast(iterations, tf.int32)
    tiny = tf.constant(1e-30, tf.float32)

    def iteration(i, state: LbfgsState):
        history_size = tf.shape(state.rho)[0]
        grad = state.grad
        if clip is not None:
            # Pixels held at a bound by the gradient (x at lo with g > 0, at hi with g < 0) are
            # fixed for this iteration; the search runs over the free ones.
            held = tf.logical_or(
                tf.logical_and(state.x <= clip[0], grad > 0.0), tf.logical_and(state.x >= clip[1], grad < 0.0)
            )
            grad = tf.where(held, 0.0, grad)
        direction = _two_loop_direction(state, grad)
        if clip is not None:
            direction = tf.where(held, 0.0, direction)
        slope = _dot(grad, direction)
        # Not a descent direction (only with history, from round-off): drop the history.
        bad = tf.logical_and(state.count > 0, tf.logical_not(slope < 0.0))
        direction = tf.where(bad, -grad, direction)
        slope = tf.where(bad, -_dot(grad, grad), slope)
        count = tf.where(bad, 0, state.count)
        gamma = tf.where(bad, 1.0, state.gamma)
        grad_max = tf.reduce_max(tf.abs(grad))
        step_size = tf.where(count > 0, 1.0, first_step / tf.maximum(grad_max, tiny))

        def trial(tries, step_size, accepted, x_new, loss_new, terms_new, grad_new):
            x_trial = state.x + step_size * direction
            if clip is None:
                decrease = step_size * slope
            else:
                x_trial = tf.clip_by_value(x_trial, clip[0], clip[1])
                # Armijo along the projected path; never accept an increase of f.
                decrease = tf.minimum(_dot(state.grad, x_trial - state.x), 0.0)
            loss_trial, terms_trial, grad_trial = _evaluate(loss_fn, x_trial)
            ok = loss_trial <= state.loss + armijo * decrease  # False for NaN
            return (
                tries + 1,
                tf.where(ok, step_size, 0.5 * step_size),
                ok,
                x_trial,
                loss_trial,
                terms_trial,
                grad_trial,
            )

        tries, _, accepted, x_new, loss_new, terms_new, grad_new = tf.while_loop(
            lambda tries, step_size, accepted, *_: tf.logical_and(
                tries < max_line_search, tf.logical_not(accepted)
            ),
            trial,
            (
                tf.constant(0, tf.int32),
                step_size,
                tf.constant(False),
                state.x,
                state.loss,
                state.terms,
                state.grad,
            ),
        )
        # On failure keep the last trial only if it lowered f at all; otherwise stay at x.
        move = tf.logical_or(accepted, loss_new < state.loss)
        x_new = tf.where(move, x_new, state.x)
        loss_new = tf.where(move, loss_new, state.loss)
        terms_new = {name: tf.where(move, terms_new[name], state.terms[name]) for name in state.terms}
        grad_new = tf.where(move, grad_new, state.grad)

        s = x_new - state.x
        y = grad_new - state.grad
        sy = _dot(s, y)
        yy = _dot(y, y)
        # Scale-free curvature test (L-BFGS-B's): y.s against the first-order change g.s, both in units of f.
        store = tf.logical_and(accepted, sy > curvature_epsilon * tf.abs(_dot(state.grad, s)))
        head = state.head
        s_history = tf.cond(
            store,
            lambda: tf.tensor_scatter_nd_update(state.s_history, [[head]], [s]),
            lambda: state.s_history,
        )
        y_history = tf.cond(
            store,
            lambda: tf.tensor_scatter_nd_update(state.y_history, [[head]], [y]),
            lambda: state.y_history,
        )
        rho = tf.where(
            store,
            tf.tensor_scatter_nd_update(state.rho, [[head]], [1.0 / tf.where(store, sy, 1.0)]),
            state.rho,
        )
        new_state = LbfgsState(
            x=x_new,
            loss=loss_new,
            terms=terms_new,
            grad=grad_new,
            s_history=s_history,
            y_history=y_history,
            rho=rho,
            head=tf.where(store, tf.math.floormod(head + 1, history_size), head),
            count=tf.where(accepted, tf.where(store, tf.minimum(count + 1, history_size), count), 0),
            gamma=tf.where(store, sy / tf.where(store, yy, 1.0), tf.where(accepted, gamma, 1.0)),
            step=state.step + 1,
            evaluations=state.evaluations + tries,
        )
        return i + 1, new_state

    _, state = tf.while_loop(lambda i, _: i < iterations, iteration, (tf.constant(0, tf.int32), state))
    return state, state.loss, state.terms


# ---------------------------------------------------------------------------------------------
# Dispatch by name: the one place "adam" / "lbfgs" become init / run calls
# ---------------------------------------------------------------------------------------------


def init(kind: str, loss_fn: LossFn, x0, *, history_size: int = 10) -> AdamState | LbfgsState:
    """The starting state of solver `kind` at `x0` (`adam_init` or `lbfgs_init`).

    Raises:
        ValueError: unknown kind.
    """
    if kind not in SOLVERS:
        raise ValueError(f"unknown solver {kind!r}; expected one of {', '.join(SOLVERS)}")
    if kind == "lbfgs":
        return lbfgs_init(loss_fn, x0, history_size=history_size)
    return adam_init(x0)


def run(kind: str, loss_fn: LossFn, state, iterations, *, learning_rate=1e-2,
        **options) -> tuple[AdamState | LbfgsState, tf.Tensor, dict[str, tf.Tensor]]:
    """`iterations` steps of solver `kind` from `state` (`adam_run` or `lbfgs_run`; `learning_rate` is Adam's).

    `options` are further keyword arguments of that function (e.g. `clip`).
    """
    if kind == "lbfgs":
        return lbfgs_run(loss_fn, state, iterations, **options)
    return adam_run(loss_fn, state, iterations, learning_rate=learning_rate, **options)


def evaluations(kind: str, state) -> tf.Tensor:
    """Loss+gradient evaluations a state has cost so far (L-BFGS: including the one in init), int32."""
    return state.evaluations if kind == "lbfgs" else state.step


# ---------------------------------------------------------------------------------------------
# Single-image driver
# ---------------------------------------------------------------------------------------------


class Solver:
    """Runs one solver on one image in chunks, through a single traced `tf.function`.

    The compiled step has a fixed input signature (the state's shapes and an int32 iteration
    count), so every `run` call after the first reuses the same graph, whatever the count.

    Example::

        solver = Solver("lbfgs", loss_fn, content_image)
        for _ in range(10):
            loss, terms = solver.run(50)      # report progress here
        result = images.to_uint8(tf.clip_by_value(solver.image, 0.0, 1.0))

    Args:
        kind: "adam" or "lbfgs".
        loss_fn: see `LossFn`.
        x0: float [B, H, W, 3], starting image.
        learning_rate: Adam step size (ignored by L-BFGS).
        history_size: L-BFGS m (ignored by Adam).
        jit_compile: compile the step with XLA.
        **options: further keyword arguments of `adam_run` (beta_1, beta_2, epsilon, clip) or
            `lbfgs_run` (max_line_search, first_step, armijo, curvature_epsilon, clip).

    Raises:
        ValueError: unknown kind, learning_rate <= 0 or history_size < 1.
    """

    def __init__(
        self,
        kind: str,
        loss_fn: LossFn,
        x0,
        *,
        learning_rate: float = 1e-2,
        history_size: int = 10,
        jit_compile: bool = False,
        **options,
    ):
        if kind == "adam" and not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        self.state = init(kind, loss_fn, x0, history_size=history_size)

        def step(state, iterations):
            return run(kind, loss_fn, state, iterations, learning_rate=learning_rate, **options)

        self.kind = kind
        signature = (
            tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), self.state),
            tf.TensorSpec([], tf.int32),
        )
        self._step = tf.function(step, input_signature=signature, jit_compile=jit_compile)

    def run(self, iterations: int) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Advances `iterations` iterations (int >= 0).

        Returns:
            (loss: float32 scalar, terms: dict of float32 scalars), at the new image for L-BFGS and
            at the last evaluated iterate (the one before the final update) for Adam.
        """
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        self.state, loss, terms = self._step(self.state, tf.constant(iterations, tf.int32))
        if logger.isEnabledFor(logging.DEBUG):  # reading the tensors would wait for the device
            logger.debug("%s: step %d, loss %.6g", self.kind, int(self.state.step), float(loss))
        return loss, terms

    @property
    def image(self) -> tf.Tensor:
        """Current iterate: float32 [B, H, W, 3]; in the `clip` box (default [0, 1]) unless clip=None."""
        return self.state.x

    @property
    def evaluations(self) -> int:
        """Loss+gradient evaluations so far (L-BFGS: including the one at the start)."""
        return int(evaluations(self.kind, self.state))

    @property
    def tracing_count(self) -> int:
        """How many times the step function was traced (1 after any number of `run` calls)."""
        return self._step.experimental_get_tracing_count()

"""Every fast class computes what its textbook class computes.

For each layer with a fast class (Conv2D, MaxPooling2D, BatchNormalization,
Dropout) and each optimizer (SGD, Adam): the same inputs and weights through
the textbook class (minicnn.nn) and the fast one (minicnn.fast) give the same
outputs, input gradient, parameter gradients and state, in float64 on odd
shapes, within RTOL (different summation orders round differently; a wrong
formula would be off by O(1)). Where the fast class has several paths
(pieces of a batch, kept or rebuilt columns, row blocks, the padded grid,
threads) each is compared. Then one whole Go Crazy training step, and
inference with batch norms folded. Each runs on NumPy and on the strict CuPy
stand-in (tests/strict_xp.py), where the fast classes take their GPU-side
choices (whole batches, the input gradient as one convolution; the fused
CuPy kernels themselves need a real GPU: tests/test_backend_paths.py).

The layers without a fast class (Flatten, Dense, the activations) and the
loss are the textbook's own class in minicnn.layers and minicnn.losses:
test_layers.py and test_gradcheck.py check them.
"""
import contextlib
import os
import sys

import numpy as np
import pytest

import minicnn
from minicnn import backend, fast, nn
from minicnn.fast import conv as fast_conv
from minicnn.fast import gemm, threads
from minicnn.models import textbook_copy
from minicnn.nn.base import textbook_twin
from tests import strict_xp
from tests.test_layers import CONV_CASES, POOL_CASES

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
import assignment4  # noqa: E402

RTOL = 1e-11


@pytest.fixture(params=["numpy", "strict"])
def on(request):
    """The backend a test runs on, in float64: NumPy, or the strict CuPy stand-in."""
    with strict_xp.installed() if request.param == "strict" else contextlib.nullcontext():
        backend.set_floatx("float64")
        minicnn.seed(0)
        yield request.param
        backend.set_floatx("float32")


def rand(*shape, seed=0):
    return backend.to_device(np.random.default_rng(seed).standard_normal(shape))


def host(a):
    return None if a is None else backend.to_host(a)


def assert_same(a, b, rtol=RTOL):
    """a and b (device or host) agree to rtol of b's largest entry."""
    a, b = host(a), host(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    scale = max(float(np.abs(b).max()), 1e-300)
    assert float(np.abs(a - b).max()) <= rtol * scale, (float(np.abs(a - b).max()), scale)


def twins(textbook_layer, fast_layer, input_shape, seed=7):
    """Both layers built for input_shape, with the same random parameters and state."""
    for i, layer in enumerate((textbook_layer, fast_layer)):
        layer.build(input_shape)
        for j, (key, value) in enumerate(sorted({**layer.params, **layer.state}.items())):
            fresh = np.random.default_rng(seed + j).standard_normal(value.shape)
            value[...] = backend.to_device(np.abs(fresh) if key == "moving_variance" else fresh)
    return textbook_layer, fast_layer


def compare_step(textbook_layer, fast_layer, x, training=True, rtol=RTOL):
    """One forward and backward through both: outputs, dL/dx, every grad and state."""
    y_text, y_fast = textbook_layer.forward(x, training=training), fast_layer.forward(x, training=training)
    assert_same(y_fast, y_text, rtol)
    g = rand(*y_text.shape, seed=5)
    dx_text, dx_fast = textbook_layer.backward(g), fast_layer.backward(g)
    assert (dx_text is None) == (dx_fast is None)
    if dx_text is not None:
        assert_same(dx_fast, dx_text, rtol)
    assert set(fast_layer.grads) == set(textbook_layer.grads)
    for key in textbook_layer.grads:
        assert_same(fast_layer.grads[key], textbook_layer.grads[key], rtol)
    for key in textbook_layer.state:
        assert_same(fast_layer.state[key], textbook_layer.state[key], rtol)


# ---- Conv2D ------------------------------------------------------------------------
CONV_VARIANTS = {   # the fast class's paths, each forced through monkeypatch
    "default": {},
    "pieces-kept": {"CHUNK_BYTES": 1, "KEEP_COLS_BYTES": 1 << 40},
    "pieces-rebuilt": {"CHUNK_BYTES": 1, "KEEP_COLS_BYTES": 0},
    "grid": {"GRID_RATIO": float("inf"), "GRID_MIN_CHANNELS": 1},
    "no-grid": {"GRID_RATIO": 0.0},
}


@pytest.mark.parametrize("shape,filters,k,s,pad", CONV_CASES + [((2, 10, 10, 8), 4, 3, 1, "valid")])
@pytest.mark.parametrize("use_bias,activation", [(True, "relu"), (False, None), (True, None)])
@pytest.mark.parametrize("variant", sorted(CONV_VARIANTS))
def test_conv2d(shape, filters, k, s, pad, use_bias, activation, variant, on, monkeypatch):
    for name, value in CONV_VARIANTS[variant].items():
        monkeypatch.setattr(fast_conv, name, value)
    args = dict(strides=s, padding=pad, activation=activation, use_bias=use_bias)
    text, quick = twins(nn.Conv2D(filters, k, **args), fast.Conv2D(filters, k, **args), shape[1:])
    x = rand(*shape)
    compare_step(text, quick, x)
    text.compute_input_grad = quick.compute_input_grad = False      # a model's first layer
    compare_step(text, quick, x)
    compare_step(text, quick, x, training=False)                    # inference keeps no columns


@pytest.mark.parametrize("shape,filters,k,s,pad", CONV_CASES[:4])
def test_conv2d_in_row_blocks_and_threads(shape, filters, k, s, pad, monkeypatch):
    """Every product in blocks of 2 rows (gemm.py), and the batch over 2 threads."""
    backend.set_floatx("float64")
    monkeypatch.setattr(gemm, "rows_per_block", lambda k_, n_, m: 2)
    monkeypatch.setattr(threads, "MIN_PART", 1)
    before = threads.chosen_threads()
    threads.set_threads(2)
    try:
        args = dict(strides=s, padding=pad, activation="relu")
        text, quick = twins(nn.Conv2D(filters, k, **args), fast.Conv2D(filters, k, **args),
                            shape[1:])
        compare_step(text, quick, rand(*shape))
    finally:
        threads.restore_threads(before)


# ---- MaxPooling2D ----------------------------------------------------------------------
@pytest.mark.parametrize("shape,pool,strides,pad", POOL_CASES + [((3, 6, 4, 5), 2, None, "valid")])
@pytest.mark.parametrize("ties", [False, True])
def test_max_pooling2d(shape, pool, strides, pad, ties, on):
    """Exactly equal: both take the first maximum of each window (ties: a ReLU's zeros)."""
    x = rand(*shape)
    if ties:
        x = backend.xp().maximum(backend.xp().round(x), 0)
    args = dict(strides=strides, padding=pad)
    text, quick = nn.MaxPooling2D(pool, **args), fast.MaxPooling2D(pool, **args)
    compare_step(text, quick, x, rtol=0.0)


# ---- BatchNormalization ----------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3, 5, 2), (1, 4, 3, 3), (7, 5), (3, 5, 7, 11)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_normalization(shape, training, center, scale, on):
    """With or without beta (center) and gamma (scale), as Keras allows."""
    args = dict(momentum=0.9, center=center, scale=scale)
    text, quick = twins(nn.BatchNormalization(**args), fast.BatchNormalization(**args), shape[1:])
    compare_step(text, quick, rand(*shape) * 3 + 1, training=training)


def test_batch_normalization_in_threads(monkeypatch):
    """The fast class's per-thread sums add up to the textbook's whole-batch ones."""
    backend.set_floatx("float64")
    monkeypatch.setattr(threads, "MIN_PART", 1)
    before = threads.chosen_threads()
    threads.set_threads(2)
    try:
        text, quick = twins(nn.BatchNormalization(), fast.BatchNormalization(), (9, 7, 12))
        compare_step(text, quick, rand(16, 9, 7, 12) * 2 + 0.5)
    finally:
        threads.restore_threads(before)


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_in_float32(training):
    """In float32 the two round differently, to about 1e-6 of each value."""
    backend.set_floatx("float32")
    x = (backend.to_host(rand(16, 9, 7, 12)) * 2 + 0.5).astype(np.float32)
    g = backend.to_host(rand(16, 9, 7, 12, seed=3)).astype(np.float32)
    text, quick = twins(nn.BatchNormalization(), fast.BatchNormalization(), x.shape[1:])
    y_text, y_fast = text.forward(x, training=training), quick.forward(x, training=training)
    assert y_fast.dtype == y_text.dtype == np.float32
    np.testing.assert_allclose(y_fast, y_text, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(quick.backward(g), text.backward(g), rtol=1e-4, atol=1e-5)
    for key in ("gamma", "beta"):
        np.testing.assert_allclose(quick.grads[key], text.grads[key], rtol=1e-4, atol=1e-3)
    for key in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(quick.state[key], text.state[key], rtol=1e-6)


# ---- Dropout ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape,rate", [((5, 3, 4, 2), 0.3), ((7, 5), 0.5), ((4, 9, 9, 3), 0.1)])
@pytest.mark.parametrize("split", [1, 2])
def test_dropout_draws_the_same_mask(shape, rate, split, on, monkeypatch):
    """With the same seed both draw the same mask, whole or in 2 threads' parts."""
    monkeypatch.setattr(threads, "MIN_PART", 1)
    before = threads.chosen_threads()
    threads.set_threads(split)
    try:
        x = rand(*shape)
        minicnn.seed(3)
        text = nn.Dropout(rate)
        y_text = text.forward(x, training=True)
        minicnn.seed(3)
        quick = fast.Dropout(rate)
        compare_step_after_forward = quick.forward(x, training=True)
        assert_same(compare_step_after_forward, y_text, 0.0)
        g = rand(*shape, seed=5)
        assert_same(quick.backward(g), text.backward(g), 0.0)
        assert float(host(y_text == 0).mean()) > 0                 # something was dropped
    finally:
        threads.restore_threads(before)


# ---- optimizers ------------------------------------------------------------------------
OPTIMIZERS = [("SGD", {}), ("SGD", {"momentum": 0.9}), ("SGD", {"momentum": 0.9, "nesterov": True}),
              ("SGD", {"momentum": 0.5, "weight_decay": 1e-2}), ("SGD", {"weight_decay": 1e-3}),
              ("Adam", {}), ("Adam", {"lr": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
              # Keras 2.2's options: decay and clipping happen in the shared step, amsgrad in update
              ("SGD", {"momentum": 0.9, "nesterov": True, "decay": 0.1, "clipnorm": 1.0}),
              ("SGD", {"momentum": 0.5, "clipvalue": 0.3}),
              ("Adam", {"amsgrad": True}), ("Adam", {"amsgrad": True, "decay": 0.05, "clipnorm": 2.0}),
              ("Adam", {"decay": 0.2, "clipvalue": 0.25, "clipnorm": 3.0})]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_optimizer_after_several_steps(name, kwargs, on):
    """Parameters and state (velocity, moments, step count) after 5 steps with a new lr
    at each, as schedules set it."""
    shapes = [(3, 3, 2, 5), (5,), (7, 3)]
    text, quick = getattr(nn, name)(**kwargs), getattr(fast, name)(**kwargs)
    params = {opt: [rand(*s, seed=i) for i, s in enumerate(shapes)] for opt in (text, quick)}
    for step in range(5):
        grads = [rand(*s, seed=10 * step + i) for i, s in enumerate(shapes)]
        for opt in (text, quick):
            opt.lr = 0.05 / (1 + step)
            opt.step(params[opt], grads)
    for a, b in zip(params[quick], params[text]):
        assert_same(a, b)
    iterations_text, slots_text = text.get_state()
    iterations_fast, slots_fast = quick.get_state()
    assert iterations_text == iterations_fast == 5
    assert slots_text.keys() == slots_fast.keys()
    for i in slots_text:
        for a, b in zip(slots_fast[i], slots_text[i]):
            assert_same(a, b)


# ---- whole models ----------------------------------------------------------------------
def go_crazy_pair(floatx):
    """Go Crazy with the fast classes and its textbook copy, compiled with SGD twins
    (SGD: the update is linear in the gradient; Adam's first step is ~lr*sign(g), which
    would magnify float32 noise on near-zero gradients)."""
    backend.set_floatx(floatx)
    minicnn.seed(5)
    quick = assignment4.go_crazy()
    quick.compile("categorical_crossentropy", assignment4.SGD(lr=0.01))
    text = textbook_copy(quick)
    text.compile("categorical_crossentropy", textbook_twin(quick.optimizer))
    assert all(type(layer).__module__.startswith("minicnn.nn.") for layer in text.layers)
    assert type(text.optimizer) is nn.SGD
    return text, quick


def train_step(model, x, y):
    """One step through the model's runner (no process team); what it changed."""
    minicnn.seed(9)                                   # the same dropout masks for both
    labels = backend.to_device(y)
    loss, _ = model.runner.train_step(backend.to_device(x), labels)
    grads = [host(layer.grads[key]) for layer, key in model.runner.slots]
    return float(host(loss)), grads, model.get_weights()


@pytest.mark.parametrize("floatx", ["float64", "float32"])
def test_go_crazy_training_step(floatx, on):
    """The same loss, gradients and new weights: in float64 to ~1e-14 of each array's
    scale. In float32 this step is ill-conditioned (six batch norms over 16 samples):
    either path's float32 gradients lie 2e-2 to 4e-2 from the float64 ones on the same
    data, so the paths agree only to that (measured: ~1e-5 on NumPy, where they share
    most operations, up to 1.5e-2 on the stand-in). A wrong formula would be off by O(1)."""
    rtol = 1e-9 if floatx == "float64" else 1e-4 if on == "numpy" else 5e-2
    text, quick = go_crazy_pair(floatx)
    rng = np.random.default_rng(0)
    x = rng.random((16, 28, 28, 1)).astype(floatx)
    y = rng.integers(0, 10, 16)
    loss_fast, grads_fast, weights_fast = train_step(quick, x, y)
    loss_text, grads_text, weights_text = train_step(text, x, y)
    assert abs(loss_fast - loss_text) <= rtol * abs(loss_text)
    for a, b in zip(grads_fast, grads_text):
        assert_same(a, b, rtol)
    for a, b in zip(weights_fast, weights_text):
        assert_same(a, b, rtol)


def test_go_crazy_inference_with_folded_batch_norms_equals_the_textbook(on):
    """predict runs the fast layers with each batch norm folded into the next conv;
    the textbook copy runs every layer as written."""
    text, quick = go_crazy_pair("float64")
    x = np.random.default_rng(1).random((12, 28, 28, 1))
    for model in (text, quick):                  # moving statistics away from 0 and 1
        for i, layer in enumerate(model.layers):
            for key, value in layer.state.items():
                fresh = np.random.default_rng(i).random(value.shape) + 0.5
                value[...] = backend.to_device(fresh)
    assert len(quick.runner.inference_layers("outputs")) < len(quick.layers)   # folded
    assert len(text.runner.inference_layers("outputs")) == len(text.layers)    # as written
    assert_same(quick.predict(x), text.predict(x), 1e-11)

"""Every layer, textbook (minicnn.nn) and fast (minicnn.layers): forward against a naive
loop, backward against central differences, in float64 on odd shapes. The fast paths'
own variants (pieces, row blocks, the grid) are checked the same way here, and against
the textbook class in test_fast_equals_textbook.py."""
import numpy as np
import pytest

import minicnn
from minicnn import backend, im2col, layers, nn
from minicnn.fast import conv as fast_conv
from minicnn.fast import gemm
from minicnn.gradcheck import gradcheck
from tests import naive

TOL = 1e-6
KINDS = {"textbook": nn, "fast": layers}      # the two classes of every layer


@pytest.fixture(params=sorted(KINDS))
def kind(request):
    """The module whose layer classes a test runs: minicnn.nn or minicnn.layers."""
    return KINDS[request.param]


@pytest.fixture(autouse=True)
def float64_numpy():
    backend.set_backend("numpy")
    backend.set_floatx("float64")
    minicnn.seed(0)
    yield
    backend.set_floatx("float32")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---- Conv2D ----------------------------------------------------------------
CONV_CASES = [  # (input shape with batch, filters, kernel, strides, padding)
    ((1, 5, 5, 1), 2, 3, 1, "valid"),          # batch 1, one channel
    ((2, 7, 9, 3), 4, 3, 2, "valid"),          # non-square, odd, stride 2
    ((2, 7, 9, 3), 4, 3, 2, "same"),           # TF "same": extra pad bottom/right
    ((3, 6, 5, 2), 3, (2, 3), (1, 2), "same"),  # rectangular kernel, mixed strides
    ((2, 4, 6, 5), 3, 1, 1, "valid"),          # 1x1 fast path
    ((2, 5, 5, 6), 3, 1, 2, "valid"),          # 1x1 with stride: im2col path
    ((1, 6, 6, 7), 5, 4, 1, "valid"),          # many channels, even kernel
    ((2, 6, 7, 3), 4, (3, 2), 1, "same"),      # stride 1, "same", rectangular kernel
]


@pytest.mark.parametrize("shape,filters,k,s,pad", CONV_CASES)
def test_conv_forward_matches_naive(shape, filters, k, s, pad, kind):
    layer = kind.Conv2D(filters, k, strides=s, padding=pad)
    x = rand(*shape)
    y = layer.forward(x)
    kernel, bias = layer.params["kernel"], rand(filters, seed=3)
    layer.params["bias"][...] = bias
    y = layer.forward(x)
    ref = naive.conv2d(x, kernel, bias, layer.strides, pad)
    assert y.shape == ref.shape == (shape[0],) + layer.output_shape
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape,filters,k,s,pad", CONV_CASES)
def test_conv_gradcheck(shape, filters, k, s, pad, kind):
    errors = gradcheck(kind.Conv2D(filters, k, strides=s, padding=pad, activation="relu"), rand(*shape))
    assert set(errors) == {"input", "kernel", "bias"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("shape,filters,k,s,pad", CONV_CASES)
@pytest.mark.parametrize("keep_cols,use_bias", [(True, True), (False, True), (True, False),
                                                (False, False)])
def test_conv_in_pieces_with_kept_or_rebuilt_columns_matches_naive(
        shape, filters, k, s, pad, keep_cols, use_bias, monkeypatch):
    """Pieces of one image (CHUNK_BYTES = 1), columns kept for backward or rebuilt there,
    with the bias in the columns' ones column or no bias at all."""
    monkeypatch.setattr(fast_conv, "CHUNK_BYTES", 1)
    monkeypatch.setattr(fast_conv, "KEEP_COLS_BYTES", 1 << 40 if keep_cols else 0)
    layer = fast_conv.Conv2D(filters, k, strides=s, padding=pad, use_bias=use_bias)
    x = rand(*shape)
    layer.build(x.shape[1:])
    bias = rand(filters, seed=3) if use_bias else np.zeros(filters)
    if use_bias:
        layer.params["bias"][...] = bias
    y = layer.forward(x, training=True)
    assert (layer._cols is not None) == (keep_cols or layer._is_pointwise())
    if layer._cols is not None:   # a ones column exactly when there is a bias and an im2col
        extra = 1 if layer._ones_column() else 0
        assert layer._cols.shape[1] == layer.params["kernel"].size // filters + extra
        assert layer._ones_column() == (use_bias and not layer._is_pointwise())
    np.testing.assert_allclose(y, naive.conv2d(x, layer.params["kernel"], bias,
                                               layer.strides, pad), rtol=1e-10, atol=1e-10)
    errors = gradcheck(layer, x)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("shape,filters,k,s,pad", CONV_CASES)
@pytest.mark.parametrize("keep_cols", [True, False])
def test_conv_with_products_in_row_blocks_matches_naive(shape, filters, k, s, pad, keep_cols,
                                                         monkeypatch):
    """Every fast-path product in blocks of 2 rows (gemm.py), the last one shorter
    where the rows are odd, with kept or rebuilt columns."""
    monkeypatch.setattr(gemm, "rows_per_block", lambda k_, n_, m: 2)
    monkeypatch.setattr(fast_conv, "KEEP_COLS_BYTES", 1 << 40 if keep_cols else 0)
    layer = fast_conv.Conv2D(filters, k, strides=s, padding=pad)
    x = rand(*shape)
    layer.build(x.shape[1:])
    layer.params["bias"][...] = rand(filters, seed=3)
    np.testing.assert_allclose(layer.forward(x), naive.conv2d(
        x, layer.params["kernel"], layer.params["bias"], layer.strides, pad), rtol=1e-10, atol=1e-10)
    errors = gradcheck(layer, x)
    assert max(errors.values()) < TOL, errors


GRID_CASES = [c for c in CONV_CASES if c[3] == 1 and c[2] != 1] + [  # stride 1, no 1x1
    ((2, 5, 6, 2), 3, 2, 1, "same"),           # even kernel: the extra pad bottom/right
    ((3, 4, 7, 3), 2, (2, 3), 1, "valid"),     # rectangular, three images
]


def grid_layer(shape, filters, k, pad, monkeypatch, use_bias=True, activation="relu"):
    """A float64 Conv2D that takes its gradients on the padded grid whatever its size."""
    monkeypatch.setattr(fast_conv, "GRID_RATIO", float("inf"))
    monkeypatch.setattr(fast_conv, "GRID_MIN_CHANNELS", 1)
    layer = fast_conv.Conv2D(filters, k, padding=pad, use_bias=use_bias, activation=activation)
    layer.build(shape[1:])
    if use_bias:
        layer.params["bias"][...] = rand(filters, seed=3)
    assert layer._on_grid()
    return layer


@pytest.mark.parametrize("shape,filters,k,s,pad", GRID_CASES)
@pytest.mark.parametrize("use_bias,activation", [(True, "relu"), (False, None)])
@pytest.mark.parametrize("blocks", [False, True])
def test_conv_backward_on_the_grid_matches_naive(shape, filters, k, s, pad, use_bias,
                                                 activation, blocks, monkeypatch):
    """Gradients from the padded grid (Conv2D._backward_on_grid), with or without a
    bias and ReLU, and with every product whole or in blocks of 2 rows (gemm.py)."""
    if blocks:
        monkeypatch.setattr(gemm, "rows_per_block", lambda k_, n_, m: 2)
    layer = grid_layer(shape, filters, k, pad, monkeypatch, use_bias, activation)
    x = rand(*shape)
    bias = layer.params["bias"] if use_bias else np.zeros(filters)
    y = layer.forward(x, training=True)
    assert layer._cols is None                # backward needs no columns: none are kept
    ref = naive.conv2d(x, layer.params["kernel"], bias, layer.strides, pad)
    np.testing.assert_allclose(y, np.maximum(ref, 0) if activation else ref,
                               rtol=1e-10, atol=1e-10)
    errors = gradcheck(layer, x)
    assert set(errors) == {"input", "kernel"} | ({"bias"} if use_bias else set())
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("shape,filters,k,s,pad", GRID_CASES)
def test_conv_grid_gradients_equal_the_im2col_ones(shape, filters, k, s, pad, monkeypatch):
    """The grid and the im2col backward of one layer agree to rounding, and a first
    layer (no input gradient) gets the same kernel and bias gradients."""
    layer = grid_layer(shape, filters, k, pad, monkeypatch)
    x, g = rand(*shape), rand(*((shape[0],) + layer.output_shape), seed=5)
    layer.forward(x, training=True)
    dx_grid = layer.backward(g)
    grads_grid = {key: v.copy() for key, v in layer.grads.items()}
    layer.compute_input_grad = False
    layer.forward(x, training=True)
    assert layer.backward(g) is None
    for key, v in layer.grads.items():
        np.testing.assert_allclose(v, grads_grid[key], rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(fast_conv, "GRID_RATIO", 0.0)
    assert not layer._on_grid()
    layer.compute_input_grad = True
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.backward(g), dx_grid, rtol=1e-12, atol=1e-12)
    for key, v in layer.grads.items():
        np.testing.assert_allclose(v, grads_grid[key], rtol=1e-12, atol=1e-12)


def test_conv_takes_the_grid_only_where_it_pays():
    """Stride 1, a kernel over 1x1, GRID_MIN_CHANNELS channels and a padded grid of at
    most GRID_RATIO times the output: vanilla's second layer qualifies, its first not."""
    def on_grid(shape, **kwargs):
        layer = fast_conv.Conv2D(8, kwargs.pop("k", 3), **kwargs)
        layer.build(shape)
        return layer._on_grid()
    assert on_grid((26, 26, 16))                          # 26x26 grid for a 24x24 output
    assert on_grid((28, 28, 8), padding="same")           # 30x30 for 28x28
    assert not on_grid((28, 28, 1))                       # one channel: products too thin
    assert not on_grid((12, 12, 16))                      # 12x12 for 10x10: border too large
    assert not on_grid((26, 26, 16), strides=2)
    assert not on_grid((26, 26, 16), k=1)                 # 1x1: no im2col to save


@pytest.mark.parametrize("shape,filters,k,s,pad", CONV_CASES)
def test_conv_inference_forward_keeps_no_columns_and_backward_still_works(shape, filters, k, s, pad):
    """Inference mode writes columns into a small buffer only; a backward after it rebuilds them."""
    layer = fast_conv.Conv2D(filters, k, strides=s, padding=pad)
    x = rand(*shape)
    layer.build(x.shape[1:])
    layer.params["bias"][...] = rand(filters, seed=3)
    g = rand(*((shape[0],) + layer.output_shape), seed=5)
    y_train = layer.forward(x, training=True)
    dx_train = layer.backward(g)
    dk_train = layer.grads["kernel"].copy()
    y_infer = layer.forward(x, training=False)
    assert (layer._cols is None) == (not layer._is_pointwise())
    np.testing.assert_allclose(y_infer, y_train, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(g), dx_train, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["kernel"], dk_train, rtol=1e-12, atol=1e-12)


def test_im2col_matches_naive_patches_and_col2im_is_its_adjoint():
    x = rand(2, 7, 6, 3)
    cols = im2col.im2col(x, 3, 2, 2, 1)                       # (2, 3, 5, 18)
    assert cols.shape == (2, 3, 5, 18)
    for i, j in ((0, 0), (2, 4), (1, 3)):                      # patch (i, j) of image 1, ravelled
        np.testing.assert_array_equal(cols[1, i, j], x[1, 2 * i:2 * i + 3, j:j + 2].ravel())
    # <im2col(x), c> == <x, col2im(c)> for any c: col2im is the exact adjoint
    c = rand(*cols.shape, seed=9)
    lhs = (cols * c).sum()
    rhs = (x * im2col.col2im(c, x.shape, 3, 2, 2, 1)).sum()
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


def test_same_padding_follows_tensorflow():
    assert im2col.same_padding(28, 3, 2) == (0, 1)   # odd extra goes bottom/right
    assert im2col.same_padding(5, 4, 1) == (1, 2)
    assert nn.Conv2D(2, 3, strides=2, padding="same").compute_output_shape((28, 28, 1)) == (14, 14, 2)


def test_convolution2d_legacy_forms():
    assert layers.Convolution2D(16, 3, 3, activation="relu").kernel_size == (3, 3)
    assert layers.Convolution2D(10, 4).kernel_size == (4, 4)
    assert layers.Convolution2D(8, (3, 3)).kernel_size == (3, 3)
    assert layers.Convolution2D(10, 1, 1).kernel_size == (1, 1)
    layer = layers.Convolution2D(16, 3, 3, activation="relu", input_shape=(28, 28, 1))
    layer.build(layer.input_shape)
    assert layer.params["kernel"].shape == (3, 3, 1, 16)


# ---- MaxPooling2D ----------------------------------------------------------
POOL_CASES = [  # (shape, pool, strides, padding)
    ((2, 6, 8, 3), 2, None, "valid"),
    ((1, 7, 5, 2), 2, None, "valid"),          # odd sizes floor
    ((2, 7, 8, 3), 3, 2, "valid"),             # overlapping windows
    ((2, 7, 5, 1), 2, None, "same"),
    ((1, 5, 6, 2), (2, 3), (1, 2), "valid"),
]


@pytest.mark.parametrize("shape,pool,strides,pad", POOL_CASES)
def test_pool_forward_matches_naive(shape, pool, strides, pad, kind):
    layer = kind.MaxPooling2D(pool, strides=strides, padding=pad)
    x = rand(*shape)
    ref = naive.maxpool(x, layer.pool_size, layer.strides, pad)
    np.testing.assert_array_equal(layer.forward(x), ref)


@pytest.mark.parametrize("shape,pool,strides,pad", POOL_CASES)
def test_pool_gradcheck_tie_free(shape, pool, strides, pad, kind):
    # distinct values spaced far more than the finite-difference step: no ties
    n = int(np.prod(shape))
    x = np.random.default_rng(1).permutation(n).reshape(shape) * 0.01
    errors = gradcheck(kind.MaxPooling2D(pool, strides=strides, padding=pad), x)
    assert errors["input"] < TOL, errors


@pytest.mark.parametrize("pool,strides", [(2, None), (3, 2), (3, 1)])
def test_pool_ties_go_to_first_maximum(pool, strides, kind):
    # post-ReLU-like input: mostly exact zeros, plus repeated small integers
    x = np.maximum(np.random.default_rng(2).integers(-3, 2, size=(2, 7, 7, 3)), 0).astype(float)
    layer = kind.MaxPooling2D(pool, strides=strides)
    y = layer.forward(x)
    g = rand(*y.shape, seed=4)
    dx = layer.backward(g)
    np.testing.assert_allclose(dx, naive.maxpool_grad_first_max(x, layer.pool_size, layer.strides, g))
    # all-zero input: each window's gradient lands on its top-left element only
    zeros = np.zeros((1, 4, 4, 1))
    layer2 = kind.MaxPooling2D(2)
    layer2.forward(zeros)
    dz = layer2.backward(np.ones((1, 2, 2, 1)))
    assert dz.sum() == 4 and dz[0, ::2, ::2, 0].sum() == 4


# ---- BatchNormalization ----------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3, 5, 2), (1, 4, 3, 3), (6, 4)])
def test_batchnorm_training_forward_and_moving_stats(shape, kind):
    layer = kind.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = rand(*shape) * 3 + 1
    layer.build(x.shape[1:])
    c = shape[-1]
    assert np.all(layer.state["moving_mean"] == 0) and np.all(layer.state["moving_variance"] == 1)
    layer.params["gamma"][...] = rand(c, seed=7)
    layer.params["beta"][...] = rand(c, seed=8)
    y = layer.forward(x, training=True)
    ref, mean, var = naive.batchnorm_train(x, layer.params["gamma"], layer.params["beta"], 1e-3)
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)
    m = x.size // c
    np.testing.assert_allclose(layer.state["moving_mean"], 0.1 * mean)
    np.testing.assert_allclose(layer.state["moving_variance"], 0.9 + 0.1 * var * m / (m - 1))


def test_batchnorm_inference_uses_moving_stats(kind):
    layer = kind.BatchNormalization(epsilon=1e-3)
    x = rand(3, 2, 2, 2)
    layer.build(x.shape[1:])
    layer.state["moving_mean"][...] = [1.0, -2.0]
    layer.state["moving_variance"][...] = [4.0, 0.25]
    y = layer.forward(x, training=False)
    expected = (x - np.array([1.0, -2.0])) / np.sqrt(np.array([4.0, 0.25]) + 1e-3)
    np.testing.assert_allclose(y, expected)
    before = layer.state["moving_mean"].copy()
    layer.forward(x, training=False)
    np.testing.assert_array_equal(layer.state["moving_mean"], before)


@pytest.mark.parametrize("shape,training", [((4, 3, 5, 2), True), ((1, 4, 3, 3), True),
                                            ((5, 3), True), ((3, 4, 4, 2), False)])
def test_batchnorm_gradcheck(shape, training, kind):
    layer = kind.BatchNormalization()
    layer.build(shape[1:])
    layer.params["gamma"][...] = rand(shape[-1], seed=7)   # non-trivial gamma
    errors = gradcheck(layer, rand(*shape), training=training)
    assert max(errors.values()) < TOL, errors


def test_batchnorm_float64_hyper_parameters_keep_float32(kind):
    """NumPy scalars as momentum/epsilon must not turn float32 outputs into float64."""
    backend.set_floatx("float32")
    try:
        layer = kind.BatchNormalization(momentum=np.float64(0.9), epsilon=np.float64(1e-3))
        x = (rand(4, 3, 5, 2) * 2 + 0.5).astype(np.float32)
        layer.build(x.shape[1:])
        y = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(y))
        assert y.dtype == dx.dtype == np.float32
        for key in ("gamma", "beta"):
            assert layer.grads[key].dtype == np.float32, key
        for key in ("moving_mean", "moving_variance"):
            assert layer.state[key].dtype == np.float32, key
    finally:
        backend.set_floatx("float64")


def test_gradcheck_catches_a_broken_batchnorm_backward():
    """A backward with the x_hat * sum(g * x_hat) term deleted must fail the check."""
    class Broken(nn.BatchNormalization):
        def backward(self, grad_out):
            g = grad_out.reshape(-1, grad_out.shape[-1])
            self.grads["gamma"] = (g * self._x_hat).sum(0)
            self.grads["beta"] = g.sum(0)
            m = g.shape[0]
            gamma = self.params["gamma"]
            return ((gamma * self._inv_std / m) * (m * g - g.sum(0))).reshape(grad_out.shape)
    errors = gradcheck(Broken(), rand(4, 3, 3, 2))
    assert errors["input"] > 1e-2


# ---- Dropout, Dense, Flatten, activations -----------------------------------
def test_dropout_inverted_scaling_and_inference_identity(kind):
    layer = kind.Dropout(0.25)
    x = np.ones((50, 20, 20, 2))
    y = layer.forward(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)  # same mask, same scale
    assert layer.forward(x, training=False) is x


def test_dropout_same_seed_same_mask(kind):
    x = np.ones((4, 5, 5, 3))
    minicnn.seed(11)
    a = kind.Dropout(0.5).forward(x, training=True)
    minicnn.seed(11)
    b = kind.Dropout(0.5).forward(x, training=True)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_keep_mask_rate_shape_and_independence(keep):
    minicnn.seed(2)
    kept = backend.keep_mask((301, 7, 13), keep)                  # size not a multiple of 4 draws
    assert kept.shape == (301, 7, 13) and kept.dtype == bool
    n = kept.size
    assert abs(kept.mean() - keep) < 4 * np.sqrt(keep * (1 - keep) / n) + 2 ** -16
    flat = kept.ravel()[: n - n % 4].reshape(-1, 4)         # the four units of one 64-bit draw
    for i in range(3):                                       # are independent of each other
        both = (flat[:, i] & flat[:, i + 1]).mean()
        assert abs(both - keep ** 2) < 4 * np.sqrt(keep ** 2 * (1 - keep ** 2) / len(flat))


@pytest.mark.parametrize("shape", [(10, 6, 2), (9, 5, 3)])    # rows of whole / partial draws
def test_keep_mask_rows_are_one_mask_whatever_the_split(shape):
    minicnn.seed(8)
    whole = backend.keep_mask(shape, 0.7)
    after_whole = backend.rng().random(3)
    minicnn.seed(8)
    kept = backend.keep_mask_rows(shape, 0.7)
    after_rows = backend.rng().random(3)                         # the generator moved past it all
    np.testing.assert_array_equal(after_rows, after_whole)
    for cuts in ([0, 10], [0, 3, 10], [0, 1, 2, 7, 10]):
        cuts = [min(c, shape[0]) for c in cuts]
        parts = [kept(slice(a, b)) for a, b in zip(cuts[:-1], cuts[1:])][::-1]   # any order
        np.testing.assert_array_equal(np.concatenate(parts[::-1]), whole)


def test_dropout_gradcheck_fixed_mask(kind):
    errors = gradcheck(kind.Dropout(0.4), rand(3, 4, 4, 2), seed=3)
    assert errors["input"] < TOL


@pytest.mark.parametrize("activation", [None, "relu"])
def test_dense_forward_and_gradcheck(activation, kind):
    layer = kind.Dense(4, activation=activation)
    x = rand(3, 6)
    y = layer.forward(x)
    ref = naive.dense(x, layer.params["kernel"], layer.params["bias"])
    np.testing.assert_allclose(y, ref if activation is None else np.maximum(ref, 0))
    errors = gradcheck(kind.Dense(4, activation=activation), x)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("layer,shape", [(nn.Flatten(), (2, 3, 4, 2)), (nn.ReLU(), (3, 4, 2)),
                                         (nn.Activation("softmax"), (3, 6)),
                                         (nn.Activation("linear"), (2, 5)),
                                         (nn.Activation("relu"), (2, 3, 3, 2))])
def test_simple_layers_gradcheck(layer, shape):
    errors = gradcheck(layer, rand(*shape))
    assert errors["input"] < TOL, errors


def test_activation_forward_values():
    x = rand(4, 7)
    np.testing.assert_array_equal(nn.ReLU().forward(x), np.where(x > 0, x, 0))
    s = nn.Activation("softmax").forward(x)
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    np.testing.assert_allclose(s, np.exp(x) / np.exp(x).sum(1, keepdims=True))
    assert nn.Flatten().forward(rand(2, 3, 4, 5)).shape == (2, 60)


# ---- float32 stays float32 --------------------------------------------------
def test_float32_end_to_end_no_upcast(kind):
    backend.set_floatx("float32")
    x = rand(2, 8, 8, 3).astype(np.float32)
    stack = [kind.Conv2D(4, 3, activation="relu"), kind.BatchNormalization(), kind.Dropout(0.2),
             kind.Conv2D(4, 1, activation="relu"), kind.MaxPooling2D(2), kind.Flatten(),
             kind.Dense(3), kind.Activation("softmax")]
    h = x
    for layer in stack:
        h = layer.forward(h, training=True)
        assert h.dtype == np.float32, type(layer).__name__
    g = np.ones_like(h)
    for layer in reversed(stack):
        g = layer.backward(g)
        assert g.dtype == np.float32, type(layer).__name__
        for name, grad in layer.grads.items():
            assert grad.dtype == np.float32, (type(layer).__name__, name)

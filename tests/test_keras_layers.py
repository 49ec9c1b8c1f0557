"""The Keras 2.2 layers beyond the assignment's: GlobalAveragePooling2D, GlobalMaxPooling2D,
AveragePooling2D, ZeroPadding2D, Reshape, DepthwiseConv2D, SeparableConv2D, LeakyReLU, ELU.

Each: forward against a naive loop on odd shapes in float64, every gradient against
central differences, output shapes and parameter counts as Keras' formulas give them,
its config rebuilding it (through JSON too), textbook_copy, and training in float32.
"""
import json
import math

import numpy as np
import pytest

import minicnn
from minicnn import backend, layers, nn, regularizers
from minicnn.gradcheck import gradcheck
from minicnn.models import Sequential, textbook_copy
from minicnn.optimizers import Adam
from minicnn.utils import to_categorical
from tests import naive
from tests.test_layers import rand

TOL = 1e-6




def padded(x, pads):
    """x (N, H, W, C) with ((top, bottom), (left, right)) zeros."""
    return np.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),))


def window_pads(h, w, k, s, padding):
    if padding == "valid":
        return (0, 0), (0, 0)
    return naive.same_pads(h, k[0], s[0]), naive.same_pads(w, k[1], s[1])


# ---- naive loops -------------------------------------------------------------------
def naive_average_pool(x, pool, strides, padding):
    """Mean of the real pixels of each window: padding is not counted (TensorFlow's rule)."""
    n, h, w, c = x.shape
    (top, _), (left, _) = window_pads(h, w, pool, strides, padding)
    if padding == "valid":
        oh, ow = (h - pool[0]) // strides[0] + 1, (w - pool[1]) // strides[1] + 1
    else:
        oh, ow = math.ceil(h / strides[0]), math.ceil(w / strides[1])
    y = np.zeros((n, oh, ow, c))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    values = [x[b, r, q, ch]
                              for r in range(i * strides[0] - top, i * strides[0] - top + pool[0])
                              for q in range(j * strides[1] - left, j * strides[1] - left + pool[1])
                              if 0 <= r < h and 0 <= q < w]
                    y[b, i, j, ch] = sum(values) / len(values)
    return y


def naive_depthwise(x, kernel, bias, strides, padding):
    """y[n, i, j, c*dm + m] = bias + sum_{a, b} xpad[n, i*sh + a, j*sw + b, c] * kernel[a, b, c, m]."""
    n, h, w, c = x.shape
    kh, kw, _, dm = kernel.shape
    xp = padded(x, window_pads(h, w, (kh, kw), strides, padding))
    oh, ow = (xp.shape[1] - kh) // strides[0] + 1, (xp.shape[2] - kw) // strides[1] + 1
    y = np.zeros((n, oh, ow, c * dm))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    for m in range(dm):
                        acc = 0.0 if bias is None else bias[ch * dm + m]
                        for a in range(kh):
                            for q in range(kw):
                                acc += xp[b, i * strides[0] + a, j * strides[1] + q, ch] * kernel[a, q, ch, m]
                        y[b, i, j, ch * dm + m] = acc
    return y


def naive_separable(x, depthwise, pointwise, bias, strides, padding):
    z = naive_depthwise(x, depthwise, None, strides, padding)
    n, oh, ow, cdm = z.shape
    f = pointwise.shape[-1]
    y = np.zeros((n, oh, ow, f))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for o in range(f):
                    y[b, i, j, o] = (0.0 if bias is None else bias[o]) + sum(
                        z[b, i, j, k] * pointwise[0, 0, k, o] for k in range(cdm))
    return y


# ---- GlobalAveragePooling2D, GlobalMaxPooling2D ---------------------------------------
@pytest.mark.parametrize("kind", [nn, layers])
def test_global_poolings_match_loops_and_gradcheck(kind, float64):
    x = rand(3, 5, 7, 4)
    for layer, reduce in ((kind.GlobalAveragePooling2D(), np.mean), (kind.GlobalMaxPooling2D(), np.max)):
        y = layer.forward(x)
        ref = np.array([[reduce([x[b, i, j, c] for i in range(5) for j in range(7)]) for c in range(4)]
                        for b in range(3)])
        assert y.shape == (3, 4) and layer.output_shape == (4,) and layer.count_params() == 0
        np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
        errors = gradcheck(type(layer)(), x)
        assert set(errors) == {"input"} and errors["input"] < TOL, errors


def test_global_max_pooling_shares_the_gradient_among_tied_maxima(float64):
    layer = nn.GlobalMaxPooling2D()
    x = np.zeros((1, 2, 2, 1))
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 3.0                         # two maxima
    layer.forward(x)
    dx = layer.backward(np.array([[6.0]]))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, 3.0], [3.0, 0.0]])


# ---- AveragePooling2D ------------------------------------------------------------------
AVERAGE_CASES = [  # (input shape, pool, strides, padding)
    ((2, 6, 8, 3), 2, None, "valid"),
    ((1, 7, 5, 2), 2, None, "valid"),           # odd sizes floor
    ((2, 7, 8, 3), 3, 2, "valid"),              # overlapping windows
    ((2, 7, 5, 2), 3, 2, "same"),               # windows cut at the border: fewer pixels
    ((1, 5, 6, 1), (2, 3), (1, 2), "same"),     # rectangular, mixed strides
]


@pytest.mark.parametrize("shape,pool,strides,padding", AVERAGE_CASES)
def test_average_pooling_matches_loop_and_gradcheck(shape, pool, strides, padding, float64):
    layer = layers.AveragePooling2D(pool, strides=strides, padding=padding)
    x = rand(*shape)
    y = layer.forward(x)
    ref = naive_average_pool(x, layer.pool_size, layer.strides, padding)
    assert y.shape == ref.shape == (shape[0],) + layer.output_shape
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    errors = gradcheck(layers.AveragePooling2D(pool, strides=strides, padding=padding), x)
    assert set(errors) == {"input"} and errors["input"] < TOL, errors


# ---- ZeroPadding2D, Reshape ----------------------------------------------------------------
@pytest.mark.parametrize("padding,pairs", [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))),
                                           (((1, 2), (3, 0)), ((1, 2), (3, 0)))])
def test_zero_padding_forms_values_and_gradcheck(padding, pairs, float64):
    layer = layers.ZeroPadding2D(padding)
    assert layer.padding == pairs
    x = rand(2, 3, 5, 2)
    y = layer.forward(x)
    (top, bottom), (left, right) = pairs
    ref = np.zeros((2, 3 + top + bottom, 5 + left + right, 2))
    for i in range(3):
        for j in range(5):
            ref[:, top + i, left + j, :] = x[:, i, j, :]
    np.testing.assert_array_equal(y, ref)
    errors = gradcheck(layers.ZeroPadding2D(padding), x)
    assert errors["input"] < TOL, errors


@pytest.mark.parametrize("bad", [-1, (1, 2, 3), ((1, 2), (3,)), "same", 1.5, ((1, -1), (0, 0))])
def test_zero_padding_refuses_malformed_padding(bad):
    with pytest.raises(ValueError, match="ZeroPadding2D: padding must be"):
        layers.ZeroPadding2D(bad)


def test_reshape_with_one_unknown_axis_and_gradcheck(float64):
    layer = layers.Reshape((-1, 6))
    x = rand(2, 4, 3, 2)
    y = layer.forward(x)
    assert layer.output_shape == (4, 6)
    np.testing.assert_array_equal(y, x.reshape(2, 4, 6))
    assert gradcheck(layers.Reshape((2, 12)), x)["input"] < TOL
    with pytest.raises(ValueError, match=r"cannot reshape an input of shape \(4, 3, 2\)"):
        layers.Reshape((5, -1)).build((4, 3, 2))
    with pytest.raises(ValueError, match=r"cannot reshape"):
        layers.Reshape((5, 5)).build((4, 3, 2))
    for bad in [(-1, -1), (0, 3), 24, ()]:
        with pytest.raises(ValueError, match="Reshape: target_shape must be"):
            layers.Reshape(bad)


# ---- DepthwiseConv2D, SeparableConv2D ----------------------------------------------------
DEPTHWISE_CASES = [  # (input shape, kernel, strides, padding, depth_multiplier)
    ((1, 5, 5, 1), 3, 1, "valid", 1),
    ((2, 7, 6, 3), 3, 2, "valid", 2),
    ((2, 7, 6, 3), 3, 2, "same", 1),
    ((2, 6, 5, 2), (2, 3), (1, 2), "same", 3),
]


@pytest.mark.parametrize("shape,k,s,padding,dm", DEPTHWISE_CASES)
def test_depthwise_conv_matches_loop_and_gradcheck(shape, k, s, padding, dm, float64):
    layer = layers.DepthwiseConv2D(k, strides=s, padding=padding, depth_multiplier=dm)
    x = rand(*shape)
    layer.build(x.shape[1:])
    layer.params["bias"][...] = rand(shape[-1] * dm, seed=3)
    y = layer.forward(x)
    ref = naive_depthwise(x, layer.params["depthwise_kernel"], layer.params["bias"],
                          layer.strides, padding)
    assert y.shape == ref.shape == (shape[0],) + layer.output_shape
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
    errors = gradcheck(layers.DepthwiseConv2D(k, strides=s, padding=padding, depth_multiplier=dm,
                                              activation="tanh"), x)
    assert set(errors) == {"input", "depthwise_kernel", "bias"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("shape,k,s,padding,dm", DEPTHWISE_CASES)
def test_separable_conv_matches_loop_and_gradcheck(shape, k, s, padding, dm, float64):
    layer = layers.SeparableConv2D(4, k, strides=s, padding=padding, depth_multiplier=dm)
    x = rand(*shape)
    layer.build(x.shape[1:])
    layer.params["bias"][...] = rand(4, seed=3)
    y = layer.forward(x)
    ref = naive_separable(x, layer.params["depthwise_kernel"], layer.params["pointwise_kernel"],
                          layer.params["bias"], layer.strides, padding)
    assert y.shape == ref.shape == (shape[0],) + layer.output_shape
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
    errors = gradcheck(layers.SeparableConv2D(4, k, strides=s, padding=padding, depth_multiplier=dm,
                                              activation="relu"), x)
    assert set(errors) == {"input", "depthwise_kernel", "pointwise_kernel", "bias"}
    assert max(errors.values()) < TOL, errors


def test_depthwise_layers_without_bias(float64):
    x = rand(2, 5, 4, 2)
    for layer in (layers.DepthwiseConv2D(3, use_bias=False), layers.SeparableConv2D(3, 2, use_bias=False)):
        errors = gradcheck(layer, x)
        assert "bias" not in errors and "bias" not in layer.params
        assert max(errors.values()) < TOL, errors


# ---- LeakyReLU and ELU as layers ------------------------------------------------------------
def test_leaky_relu_and_elu_layers(float64):
    x = rand(3, 4, 5)
    np.testing.assert_allclose(layers.LeakyReLU().forward(x), np.where(x > 0, x, 0.3 * x))
    np.testing.assert_allclose(layers.LeakyReLU(alpha=0.1).forward(x), np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(layers.ELU(alpha=0.5).forward(x), np.where(x > 0, x, 0.5 * np.expm1(x)))
    for layer in (layers.LeakyReLU(0.2), layers.ELU(0.7)):
        assert gradcheck(layer, x)["input"] < TOL


# ---- shapes and parameter counts as Keras 2.2 gives them --------------------------------
def test_output_shapes_and_parameter_counts_follow_keras_formulas():
    # Keras: depthwise kh*kw*C*dm (+ C*dm bias); separable kh*kw*C*dm + C*dm*F (+ F);
    # "same": ceil(size / stride); "valid": (size - k) // stride + 1
    model = Sequential([
        layers.ZeroPadding2D(((1, 2), (0, 3)), input_shape=(28, 27, 3)),   # 31 x 30 x 3
        layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),      # 31 x 30 x 6
        layers.SeparableConv2D(16, (3, 2), strides=2),                      # 15 x 15 x 16
        layers.AveragePooling2D(3, strides=2, padding="same"),             # 8 x 8 x 16
        layers.LeakyReLU(),
        layers.Reshape((4, -1)),                                            # 4 x 256
        layers.Reshape((8, 8, 16)),
        layers.GlobalMaxPooling2D(),                                        # 16
        layers.Dense(10)])
    model.build()
    assert [layer.output_shape for layer in model.layers] == [
        (31, 30, 3), (31, 30, 6), (15, 15, 16), (8, 8, 16), (8, 8, 16), (4, 256), (8, 8, 16), (16,),
        (10,)]
    counts = [layer.count_params() for layer in model.layers]
    assert counts == [0, 3 * 3 * 3 * 2 + 6, 3 * 2 * 6 * 1 + 6 * 16 + 16, 0, 0, 0, 0, 0, 16 * 10 + 10]
    assert model.count_params() == sum(counts)
    assert model.layers[1].params["depthwise_kernel"].shape == (3, 3, 3, 2)
    assert model.layers[2].params["pointwise_kernel"].shape == (1, 1, 6, 16)


def test_receptive_fields_through_the_new_layers():
    model = Sequential([layers.ZeroPadding2D(2, input_shape=(16, 16, 1)),     # no growth
                        layers.DepthwiseConv2D(3),                            # r 3, jump 1
                        layers.AveragePooling2D(2),                           # r 4, jump 2
                        layers.SeparableConv2D(2, 3, strides=2),              # r 8, jump 4
                        layers.GlobalAveragePooling2D(), layers.Dense(2)])    # ends it
    assert model.receptive_fields() == [(1, 1), (3, 1), (4, 2), (8, 4), (None, None), (None, None)]


def test_layer_names_follow_keras():
    model = Sequential([layers.ZeroPadding2D(1, input_shape=(6, 6, 1)), layers.DepthwiseConv2D(3),
                        layers.SeparableConv2D(2, 3), layers.LeakyReLU(), layers.GlobalAveragePooling2D()])
    assert [layer.name for layer in model.layers] == [
        "zero_padding2d_1", "depthwise_conv2d_1", "separable_conv2d_1", "leaky_re_lu_1",
        "global_average_pooling2d_1"]


# ---- configs ---------------------------------------------------------------------------------
def configured_layers():
    """Every new layer with arguments away from their defaults."""
    return [
        layers.GlobalAveragePooling2D(name="gap"), layers.GlobalMaxPooling2D(),
        layers.AveragePooling2D((2, 3), strides=1, padding="same"),
        layers.ZeroPadding2D(((1, 2), (3, 4)), input_shape=(5, 5, 2)), layers.Reshape((-1, 3)),
        layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="elu",
                               use_bias=False, depthwise_initializer="he_uniform",
                               depthwise_regularizer=regularizers.l2(0.01)),
        layers.SeparableConv2D(8, (3, 2), depth_multiplier=3, activation=layers.LeakyReLU(0.1),
                               pointwise_initializer=minicnn.initializers.RandomNormal(stddev=0.1),
                               bias_initializer="ones", pointwise_regularizer=regularizers.l1(0.001),
                               bias_regularizer="l2"),
        layers.LeakyReLU(alpha=0.2), layers.ELU(alpha=0.4), layers.Activation("hard_sigmoid"),
    ]


@pytest.mark.parametrize("index", range(len(configured_layers())))
def test_config_rebuilds_the_layer_through_json(index):
    layer = configured_layers()[index]
    config = layer.get_config()
    via_json = json.loads(json.dumps(config))                 # JSON-ready values only
    twin = getattr(layers, type(layer).__name__)(**via_json)
    assert type(twin) is type(layer)
    assert json.loads(json.dumps(twin.get_config())) == via_json
    assert twin.get_config() == config                        # tuples come back as tuples


def test_textbook_copy_of_a_model_of_the_new_layers_computes_the_same():
    minicnn.seed(3)
    model = Sequential([layers.ZeroPadding2D(1, input_shape=(7, 7, 2)),
                        layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
                        layers.SeparableConv2D(4, 3, padding="same", activation="selu"),
                        layers.AveragePooling2D(2, padding="same"), layers.BatchNormalization(),
                        layers.LeakyReLU(), layers.GlobalAveragePooling2D(), layers.Dense(3),
                        layers.Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=Adam(lr=0.01), metrics=["accuracy"])
    x = rand(5, 7, 7, 2).astype("float32")
    copy = textbook_copy(model)
    assert [type(layer).__name__ for layer in copy.layers] == [type(layer).__name__ for layer in model.layers]
    assert all(type(layer).__module__.startswith("minicnn.nn.") for layer in copy.layers)
    np.testing.assert_allclose(copy.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)


# ---- training, in float32 --------------------------------------------------------------------
def test_a_model_of_the_new_layers_trains_in_float32():
    minicnn.seed(0)
    rng = np.random.default_rng(1)
    labels = np.arange(32) % 2
    x = rng.normal(0.0, 0.1, size=(32, 8, 8, 1)).astype("float32")
    x[labels == 0, :, :4] += 1.0                               # bright left half or right half
    x[labels == 1, :, 4:] += 1.0
    model = Sequential([
        layers.ZeroPadding2D(1, input_shape=(8, 8, 1)),
        layers.DepthwiseConv2D(3, depth_multiplier=2, activation="tanh",
                               depthwise_regularizer=regularizers.l2(1e-3)),
        layers.SeparableConv2D(4, 3, activation=layers.LeakyReLU(0.1), bias_regularizer="l1"),
        layers.AveragePooling2D(2),
        layers.Reshape((3, 3, 4)),
        layers.GlobalAveragePooling2D(),
        layers.Dense(2, kernel_regularizer=regularizers.l1_l2(1e-3, 1e-3)),
        layers.Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=Adam(lr=0.02), metrics=["accuracy"])
    targets = to_categorical(labels, 2)
    losses = [model.train_on_batch(x, targets)[0] for _ in range(15)]
    assert losses[-1] < 0.8 * losses[0], losses
    for layer in model.layers:
        for key, value in list(layer.params.items()) + list(layer.grads.items()):
            assert value.dtype == np.float32, (layer.name, key, value.dtype)
    assert model.predict(x).dtype == np.float32


# ---- the GPU path's rules (no hidden host copies) on the strict stand-in -------------------------
def test_new_layers_run_on_the_strict_cupy_stand_in(strict_backend):
    x = backend.to_device(rand(2, 6, 5, 3), dtype="float32")
    for layer in (layers.GlobalAveragePooling2D(), layers.GlobalMaxPooling2D(),
                  layers.AveragePooling2D(3, strides=2, padding="same"), layers.ZeroPadding2D(1),
                  layers.Reshape((-1,)), layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
                  layers.SeparableConv2D(4, 3, activation="softsign"), layers.LeakyReLU(),
                  layers.ELU()):
        y = layer.forward(x, training=True)
        dx = layer.backward(y * 0.5)
        assert y.dtype == np.float32
        assert type(dx) is type(x) and dx.shape == x.shape and dx.dtype == np.float32

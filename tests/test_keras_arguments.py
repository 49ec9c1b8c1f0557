"""Keras 2.2's arguments: activations by name, initializers, regularizers, BatchNormalization's
arguments, and the Keras 1 argument names Keras 2.2 still converts (with a warning)."""
import json
import math
import warnings

import numpy as np
import pytest

import minicnn
from minicnn import backend, fast, initializers, layers, nn, regularizers
from minicnn.gradcheck import gradcheck
from minicnn.models import Sequential
from minicnn.nn import activations
from minicnn.optimizers import SGD
from minicnn.utils import to_categorical
from tests.test_layers import rand

TOL = 1e-6




# ---- activations -------------------------------------------------------------------
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
FORMULAS = {  # Keras 2.2's definitions, written with NumPy
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)),
    "softplus": lambda x: np.log(np.exp(x) + 1),
    "softsign": lambda x: x / (np.abs(x) + 1),
    "exponential": np.exp,
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_activation_values_and_gradcheck(name, float64):
    x = 2 * rand(3, 4, 5)
    np.testing.assert_allclose(layers.Activation(name).forward(x), FORMULAS[name](x),
                               rtol=1e-12, atol=1e-12)
    errors = gradcheck(layers.Activation(name), x)
    assert errors["input"] < TOL, errors


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_activation_inside_dense_gradcheck(name, float64):
    errors = gradcheck(layers.Dense(4, activation=name), rand(3, 5))
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_activations_stay_float32(name):
    x = backend.to_device(rand(2, 3, 4), dtype="float32")
    layer = layers.Activation(name)
    y = layer.forward(x)
    assert y.dtype == np.float32 and layer.backward(y).dtype == np.float32


def test_hard_sigmoid_is_keras_2_2s_and_extremes_do_not_overflow():
    x = np.array([[-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(layers.Activation("hard_sigmoid").forward(x),
                               [[0.0, 0.0, 0.3, 0.5, 0.7, 1.0, 1.0]], atol=1e-7)
    big = np.array([[-1000.0, 1000.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # no overflow warning
        np.testing.assert_array_equal(layers.Activation("sigmoid").forward(big), [[0.0, 1.0]])
        np.testing.assert_array_equal(layers.Activation("softplus").forward(big), [[0.0, 1000.0]])
        np.testing.assert_allclose(layers.Activation("elu").forward(big), [[-1.0, 1000.0]])


def test_unknown_activation_lists_the_choices():
    with pytest.raises(ValueError, match=r"Unknown activation 'swish': choose one of .*'hard_sigmoid'"):
        layers.Dense(3, activation="swish")


def test_activation_serialize_and_get_round_trip():
    for name in sorted(FORMULAS):
        assert activations.serialize(activations.get(name)) == name
    leaky = activations.serialize(layers.LeakyReLU(0.1))
    assert leaky == {"class_name": "LeakyReLU", "config": {"alpha": 0.1}}
    assert activations.get(json.loads(json.dumps(leaky))).alpha == 0.1
    assert activations.serialize(layers.ELU()) == "elu"
    assert activations.serialize(layers.ELU(0.5)) == {"class_name": "ELU", "config": {"alpha": 0.5}}
    conv = layers.Conv2D(2, 3, activation="selu")
    assert conv.get_config()["activation"] == "selu"
    assert layers.Conv2D(**conv.get_config()).activation.__class__ is nn.SELU


# ---- initializers -----------------------------------------------------------------------
def host(a):
    return np.asarray(backend.to_host(a), dtype=np.float64)


def test_fans_follow_keras():
    assert initializers._fans((200, 300)) == (200, 300)
    assert initializers._fans((3, 3, 16, 32)) == (144, 288)           # kh*kw*C_in, kh*kw*C_out
    assert initializers._fans((1, 1, 6, 4)) == (6, 4)
    assert initializers._fans((10,)) == (math.sqrt(10), math.sqrt(10))


@pytest.mark.parametrize("name,shape,limit", [
    ("glorot_uniform", (200, 300), math.sqrt(6 / 500)),
    ("he_uniform", (200, 300), math.sqrt(6 / 200)),
    ("lecun_uniform", (3, 3, 16, 32), math.sqrt(3 / 144)),
])
def test_uniform_initializers_limits_and_spread(name, shape, limit):
    minicnn.seed(0)
    w = host(initializers.get(name)(shape))
    assert w.shape == shape and np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.03 * limit / math.sqrt(3)   # U(-l, l)


@pytest.mark.parametrize("name,shape,stddev", [
    ("glorot_normal", (200, 300), math.sqrt(2 / 500)),
    ("he_normal", (3, 3, 16, 32), math.sqrt(2 / 144)),
    ("lecun_normal", (200, 300), math.sqrt(1 / 200)),
])
def test_truncated_normal_initializers_have_the_keras_standard_deviation(name, shape, stddev):
    minicnn.seed(0)
    w = host(initializers.get(name)(shape))
    # Keras 2.2 draws at stddev / 0.8796 and cuts at two of those: the result has stddev
    assert abs(w.std() - stddev) < 0.03 * stddev
    assert np.abs(w).max() <= 2 * stddev / initializers.TRUNCATED_STDDEV
    assert abs(w.mean()) < 0.05 * stddev


def test_other_initializers():
    minicnn.seed(0)
    normal = host(initializers.RandomNormal(mean=1.0, stddev=0.5)((100, 100)))
    assert abs(normal.mean() - 1.0) < 0.02 and abs(normal.std() - 0.5) < 0.02
    uniform = host(initializers.RandomUniform(-0.2, 0.1)((100, 100)))
    assert uniform.min() >= -0.2 and uniform.max() <= 0.1 and abs(uniform.mean() + 0.05) < 0.01
    cut = host(initializers.TruncatedNormal(0.5, 0.1)((100, 100)))
    assert cut.min() >= 0.3 and cut.max() <= 0.7
    assert abs(cut.std() - 0.1 * initializers.TRUNCATED_STDDEV) < 0.003
    scaled = host(initializers.VarianceScaling(3.0, "fan_out", "uniform")((200, 300)))
    assert np.abs(scaled).max() <= math.sqrt(9 / 300)
    np.testing.assert_array_equal(host(initializers.Constant(0.3)((2, 3))), np.full((2, 3), np.float32(0.3)))
    np.testing.assert_array_equal(host(initializers.get("zeros")((4,))), np.zeros(4))
    np.testing.assert_array_equal(host(initializers.get("ones")((4,))), np.ones(4))
    tall = host(initializers.Orthogonal(gain=2.0)((6, 4)))
    np.testing.assert_allclose(tall.T @ tall, 4 * np.eye(4), atol=1e-5)
    wide = host(initializers.Orthogonal()((4, 6)))
    np.testing.assert_allclose(wide @ wide.T, np.eye(4), atol=1e-5)
    np.testing.assert_array_equal(host(initializers.Identity()((2, 4))), np.hstack([np.eye(2)] * 2))


def test_glorot_uniform_draws_what_it_drew_before():
    """The default kernel initialiser keeps its exact draws (seeded runs stay the same)."""
    minicnn.seed(7)
    w = backend.to_host(initializers.get("glorot_uniform")((3, 3, 2, 5)))
    minicnn.seed(7)
    limit = math.sqrt(6.0 / (18 + 45))
    expected = backend.host_rng().uniform(-limit, limit, size=(3, 3, 2, 5)).astype(np.float32)
    np.testing.assert_array_equal(w, expected)


def test_seeded_initializers_use_their_own_generator():
    first = host(initializers.he_normal(seed=5)((4, 6)))
    minicnn.seed(123)                                                 # no effect on a seeded one
    np.testing.assert_array_equal(host(initializers.he_normal(seed=5)((4, 6))), first)
    assert not np.array_equal(host(initializers.he_normal(seed=6)((4, 6))), first)
    minicnn.seed(1)
    a = host(initializers.RandomNormal()((4, 6)))
    minicnn.seed(1)
    np.testing.assert_array_equal(host(initializers.RandomNormal()((4, 6))), a)   # the host generator


def test_initializers_give_floatx(float64):
    assert initializers.get("he_uniform")((3, 3)).dtype == np.float64
    backend.set_floatx("float32")
    assert initializers.get("he_uniform")((3, 3)).dtype == np.float32
    assert initializers.RandomNormal()((3, 3)).dtype == np.float32


def test_initializer_names_classes_and_configs():
    with pytest.raises(ValueError, match=r"Unknown initializer 'HeNormal': choose one of"):
        initializers.get("HeNormal")                                  # not a Keras 2.2 name
    for name in ("he_normal", "VarianceScaling", "random_normal", "RandomNormal", "TruncatedNormal",
                 "truncated_normal", "normal", "uniform", "Zeros", "zeros", "constant", "Orthogonal",
                 "lecun_normal", "glorot_normal"):
        init = initializers.get(name)
        assert isinstance(init, initializers.Initializer)
        assert initializers.get(json.loads(json.dumps(initializers.serialize(init)))).get_config() \
            == init.get_config()
    assert initializers.serialize(initializers.he_normal()) == "he_normal"
    assert initializers.serialize(initializers.VarianceScaling(1.0, "fan_avg", "uniform")) == "glorot_uniform"
    assert initializers.serialize(initializers.Zeros()) == "zeros"
    assert initializers.serialize(initializers.he_normal(seed=3)) == {
        "class_name": "VarianceScaling",
        "config": {"scale": 2.0, "mode": "fan_in", "distribution": "normal", "seed": 3}}
    assert initializers.serialize(initializers.RandomNormal(stddev=0.1)) == {
        "class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.1, "seed": None}}
    assert isinstance(initializers.get(initializers.he_uniform), initializers.VarianceScaling)  # uncalled

    def mine(shape):
        return backend.xp().full(shape, 2.0, dtype=backend.floatx())
    assert initializers.get(mine) is mine and initializers.serialize(mine) is mine
    layer = layers.Dense(3, kernel_initializer=initializers.RandomUniform(-1, 1, seed=2))
    config = layer.get_config()
    assert config["kernel_initializer"]["class_name"] == "RandomUniform"
    assert layers.Dense(**json.loads(json.dumps(config))).get_config() == config


@pytest.mark.parametrize("make,message", [
    (lambda: initializers.VarianceScaling(mode="fan_middle"), "mode must be one of"),
    (lambda: initializers.VarianceScaling(scale=0), "scale must be > 0"),
    (lambda: initializers.VarianceScaling(distribution="cauchy"), "distribution must be one of"),
    (lambda: initializers.RandomUniform(1.0, -1.0), "maxval .* is below minval"),
    (lambda: initializers.RandomNormal(seed=-1), "seed must be None or an int >= 0"),
    (lambda: initializers.get(3), "Unknown initializer 3"),
    (lambda: initializers.get({"name": "x"}), "a dict must be"),
])
def test_initializer_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---- regularizers -------------------------------------------------------------------------
def test_l1l2_penalty_and_gradient_by_hand(float64):
    w = backend.to_device(np.array([[1.0, -2.0], [0.5, 0.0]]))
    reg = regularizers.L1L2(l1=0.1, l2=0.2)
    penalty = reg(w)
    assert np.ndim(penalty) == 0
    assert float(penalty) == pytest.approx(0.1 * 3.5 + 0.2 * (1 + 4 + 0.25))
    np.testing.assert_allclose(reg.gradient(w), 0.1 * np.sign(host(w)) + 0.4 * host(w))


def test_l1l2_gradient_matches_central_differences(float64):
    w = rand(3, 4)
    reg = regularizers.l1_l2(l1=0.3, l2=0.7)
    numeric = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        up, down = w.copy(), w.copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        numeric[index] = (float(reg(up)) - float(reg(down))) / 2e-6
    np.testing.assert_allclose(reg.gradient(w), numeric, rtol=1e-6, atol=1e-8)


def test_regularizer_penalty_stays_float32():
    w = backend.to_device(rand(3, 3), dtype="float32")
    reg = regularizers.l1_l2()
    assert reg(w).dtype == np.float32 and reg.gradient(w).dtype == np.float32


def test_regularizer_functions_names_and_configs():
    assert regularizers.l1().get_config() == {"l1": 0.01, "l2": 0.0}
    assert regularizers.l2().get_config() == {"l1": 0.0, "l2": 0.01}
    assert regularizers.l1_l2().get_config() == {"l1": 0.01, "l2": 0.01}
    assert regularizers.l2(0.5).get_config() == {"l1": 0.0, "l2": 0.5}
    assert regularizers.get("l2").get_config() == {"l1": 0.0, "l2": 0.01}
    assert regularizers.get("L1L2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get(None) is None
    config = {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}
    assert regularizers.serialize(regularizers.l2(0.01)) == config
    assert regularizers.get(config).get_config() == config["config"]
    conv = layers.Conv2D(2, 3, kernel_regularizer="l2", bias_regularizer=regularizers.l1(0.5))
    assert conv.get_config()["kernel_regularizer"] == config
    assert set(conv.regularizers()) == {"kernel", "bias"}
    assert set(layers.Conv2D(2, 3, use_bias=False, bias_regularizer="l1").regularizers()) == set()
    assert layers.Dense(2).regularizers() == {}


@pytest.mark.parametrize("make,message", [
    (lambda: regularizers.L1L2(l1=-0.1), "l1 must be a number >= 0"),
    (lambda: regularizers.l2("much"), "l2 must be a number >= 0"),
    (lambda: regularizers.get("l3"), r"Unknown regularizer 'l3': choose one of"),
    (lambda: regularizers.get(lambda w: (w * w).sum()), "needs the penalty's gradient too"),
])
def test_regularizer_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def dense_model(**dense_args):
    return Sequential([layers.Flatten(input_shape=(3, 3, 1)), layers.Dense(2, **dense_args),
                       layers.Activation("softmax")])


def cross_entropy(probabilities, labels):
    return float(-np.log(probabilities[np.arange(len(labels)), labels]).mean())


def test_reported_loss_includes_the_penalty_and_sgd_follows_its_gradient(float64):
    x = rand(6, 3, 3, 1)
    labels = np.array([0, 1, 1, 0, 1, 0])
    model = dense_model(kernel_regularizer=regularizers.l2(0.1), bias_regularizer=regularizers.l1(0.05))
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.1), metrics=["accuracy"])
    kernel, bias = rand(9, 2, seed=1), np.array([0.3, -0.2])
    model.set_weights([kernel, bias])
    # by hand: softmax cross-entropy, and its gradient (p - onehot) / N
    logits = x.reshape(6, 9) @ kernel + bias
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    penalty = 0.1 * (kernel ** 2).sum() + 0.05 * np.abs(bias).sum()
    loss = model.train_on_batch(x, to_categorical(labels, 2))[0]
    assert loss == pytest.approx(cross_entropy(p, labels) + penalty, rel=1e-10)
    g = (p - np.eye(2)[labels]) / 6
    new_kernel, new_bias = model.get_weights()
    np.testing.assert_allclose(new_kernel, kernel - 0.1 * (x.reshape(6, 9).T @ g + 0.2 * kernel),
                               rtol=1e-10)
    np.testing.assert_allclose(new_bias, bias - 0.1 * (g.sum(axis=0) + 0.05 * np.sign(bias)),
                               rtol=1e-10)


def test_gradient_with_penalty_matches_central_differences_for_a_conv_kernel(float64):
    """The step SGD takes is lr times d(loss + penalty)/dkernel, numerically differentiated
    (the loss from predict, the penalty by hand)."""
    x = rand(4, 5, 5, 2)
    labels = np.array([0, 1, 2, 1])
    model = Sequential([layers.Conv2D(3, 3, kernel_regularizer=regularizers.l1_l2(0.02, 0.3),
                                      input_shape=(5, 5, 2)),
                        layers.Flatten(), layers.Dense(3, kernel_regularizer="l2"),
                        layers.Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.5), metrics=["accuracy"])
    weights = model.get_weights()

    def objective(kernel):
        model.set_weights([kernel] + weights[1:])
        penalty = 0.02 * np.abs(kernel).sum() + 0.3 * (kernel ** 2).sum() + 0.01 * (weights[2] ** 2).sum()
        return cross_entropy(model.predict(x), labels) + penalty

    kernel = weights[0]
    numeric = np.zeros_like(kernel)
    for index in np.ndindex(kernel.shape):
        up, down = kernel.copy(), kernel.copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        numeric[index] = (objective(up) - objective(down)) / 2e-6
    model.set_weights(weights)
    model.train_on_batch(x, to_categorical(labels, 3))
    analytic = (kernel - model.get_weights()[0]) / 0.5
    error = np.abs(analytic - numeric).max() / np.abs(numeric).max()
    assert error < TOL, error


def test_a_regularized_model_trains_in_float32():
    minicnn.seed(0)
    x = rand(16, 3, 3, 1).astype("float32")
    labels = (x[:, 0, 0, 0] > 0).astype(int)
    model = dense_model(kernel_regularizer=regularizers.l2(0.01))
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.5), metrics=["accuracy"])
    losses = [model.train_on_batch(x, to_categorical(labels, 2))[0] for _ in range(20)]
    assert losses[-1] < 0.7 * losses[0]
    assert all(w.dtype == np.float32 for w in model.get_weights())


# ---- BatchNormalization's Keras 2.2 arguments ------------------------------------------
def test_batch_norm_axis():
    assert layers.BatchNormalization(axis=3).get_config()["axis"] == 3
    layers.BatchNormalization(axis=3).build((5, 5, 2))
    layers.BatchNormalization(axis=1).build((7,))                     # (batch, features): the last
    with pytest.raises(ValueError, match=r"axis=1 is not supported .* last axis only"):
        layers.BatchNormalization(axis=1).build((5, 5, 2))
    for axis in (0, -2, 1.0):
        with pytest.raises(ValueError, match="normalises the last axis only"):
            layers.BatchNormalization(axis=axis)


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_norm_center_and_scale(center, scale, float64):
    layer = layers.BatchNormalization(center=center, scale=scale)
    assert isinstance(layer, fast.BatchNormalization)
    x = rand(4, 3, 3, 2)
    layer.build(x.shape[1:])
    expected = {key for key, kept in (("gamma", scale), ("beta", center)) if kept}
    assert set(layer.params) == expected
    assert layer.count_params() == 2 * len(expected) + 2 * 2           # Keras: + moving mean, variance
    y = layer.forward(x, training=True)
    x_hat = (x - x.mean(axis=(0, 1, 2))) / np.sqrt(x.var(axis=(0, 1, 2)) + 1e-3)
    np.testing.assert_allclose(y, x_hat, rtol=1e-10, atol=1e-10)       # gamma 1, beta 0
    errors = gradcheck(layers.BatchNormalization(center=center, scale=scale), x)
    assert set(errors) == {"input"} | expected and max(errors.values()) < TOL, errors
    config = json.loads(json.dumps(layer.get_config()))
    assert layers.BatchNormalization(**config).get_config() == layer.get_config()


def test_batch_norm_initializers_and_regularizers(float64):
    layer = layers.BatchNormalization(gamma_initializer="zeros", beta_initializer="ones",
                                      moving_mean_initializer=initializers.Constant(0.5),
                                      moving_variance_initializer="zeros",
                                      gamma_regularizer=regularizers.l2(0.1), beta_regularizer="l1")
    layer.build((3,))
    np.testing.assert_array_equal(layer.params["gamma"], np.zeros(3))
    np.testing.assert_array_equal(layer.params["beta"], np.ones(3))
    np.testing.assert_array_equal(layer.state["moving_mean"], np.full(3, 0.5))
    np.testing.assert_array_equal(layer.state["moving_variance"], np.zeros(3))
    assert set(layer.regularizers()) == {"gamma", "beta"}
    assert set(layers.BatchNormalization(scale=False, gamma_regularizer="l2").regularizers()) == set()
    config = layer.get_config()
    assert config["moving_mean_initializer"] == {"class_name": "Constant", "config": {"value": 0.5}}
    assert layers.BatchNormalization(**json.loads(json.dumps(config))).get_config() == config


# ---- Keras 1 argument names ----------------------------------------------------------------
def check(layer, **expected):
    for name, value in expected.items():
        got = getattr(layer, name)
        if name.endswith(("_initializer", "_regularizer")):
            got = (initializers if name.endswith("_initializer") else regularizers).serialize(got)
        assert got == value, (name, got, value)


LEGACY = [  # (make, what the layer has, what the warning says)
    (lambda: layers.Conv2D(16, 3, 3), dict(filters=16, kernel_size=(3, 3), strides=(1, 1)),
     r"rows, cols -> kernel_size.*Conv2D\(16, \(3, 3\)\)"),
    (lambda: layers.Convolution2D(16, 3, 3, activation="relu"), dict(kernel_size=(3, 3)),
     r"Convolution2D\(16, \(3, 3\), activation='relu'\)"),
    (lambda: nn.Conv2D(nb_filter=8, nb_row=3, nb_col=2), dict(filters=8, kernel_size=(3, 2)),
     r"nb_row, nb_col -> kernel_size, nb_filter= -> filters="),
    (lambda: layers.Conv2D(8, 3, nb_col=2), dict(kernel_size=(3, 2)), "nb_row, nb_col -> kernel_size"),
    (lambda: layers.Conv2D(4, 3, border_mode="same", subsample=(2, 1)),
     dict(padding="same", strides=(2, 1)), r"border_mode= -> padding=, subsample= -> strides="),
    (lambda: layers.Conv2D(4, 3, init="he_normal", bias=False),
     dict(kernel_initializer="he_normal", use_bias=False),
     r"init= -> kernel_initializer=, bias= -> use_bias="),
    (lambda: layers.Conv2D(4, 3, W_regularizer="l2", b_regularizer=regularizers.l1(0.1)),
     dict(kernel_regularizer={"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}},
          bias_regularizer={"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.0}}),
     r"W_regularizer= -> kernel_regularizer=, b_regularizer= -> bias_regularizer="),
    (lambda: layers.Conv2D(4, 3, dim_ordering="tf"), dict(filters=4), "dim_ordering= -> data_format="),
    (lambda: layers.Dense(output_dim=5, init="he_uniform", bias=False),
     dict(units=5, kernel_initializer="he_uniform", use_bias=False),
     r"output_dim= -> units=.*Dense\(units=5, kernel_initializer='he_uniform', use_bias=False\)"),
    (lambda: layers.Dense(3, W_regularizer="l1", b_regularizer="l2"),
     dict(kernel_regularizer={"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.0}}),
     "W_regularizer= -> kernel_regularizer="),
    (lambda: layers.Dropout(p=0.25), dict(rate=0.25), r"p= -> rate=.*Dropout\(rate=0.25\)"),
    (lambda: layers.MaxPooling2D((2, 2), border_mode="same"), dict(padding="same"),
     "border_mode= -> padding="),
    (lambda: layers.AveragePooling2D(pool_size=3, border_mode="same"), dict(padding="same", pool_size=(3, 3)),
     "border_mode= -> padding="),
    (lambda: layers.BatchNormalization(beta_init="ones", gamma_init="zeros", mode=0),
     dict(beta_initializer="ones", gamma_initializer="zeros"),
     r"beta_init= -> beta_initializer=, gamma_init= -> gamma_initializer=, mode= \(dropped\)"),
    (lambda: layers.SeparableConv2D(8, 3, 3, init="he_normal", border_mode="same"),
     dict(kernel_size=(3, 3), depthwise_initializer="he_normal", pointwise_initializer="he_normal",
          padding="same"),
     "init= -> depthwise_initializer= and pointwise_initializer="),
]


@pytest.mark.parametrize("make,expected,message", LEGACY)
def test_keras1_names_are_converted_with_a_warning(make, expected, message):
    with pytest.warns(UserWarning, match=message) as record:
        layer = make()
    assert len(record) == 1 and record[0].filename == __file__        # points at the call
    assert "Keras 1 arguments" in str(record[0].message)
    check(layer, **expected)


def test_keras2_forms_give_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layers.Dense(3, input_dim=4).input_shape == (4,)
        layers.Conv2D(4, 3, strides=2, data_format="channels_last", dilation_rate=(1, 1),
                      kernel_constraint=None, activity_regularizer=None)
        layers.Conv2D(filters=4, kernel_size=(3, 3))
        layers.MaxPooling2D(2, 2, "same")
        layers.DepthwiseConv2D(3, 2)                    # Keras 2.2 takes its strides by position
        layers.Dropout(0.5, noise_shape=None, seed=None)
        layers.BatchNormalization(axis=-1, beta_constraint=None)


@pytest.mark.parametrize("make,error,message", [
    (lambda: layers.Conv2D(16, 3, 2, padding="same"), ValueError,
     r"ambiguous.*kernel_size=\(3, 2\) or strides=2"),
    (lambda: layers.Conv2D(16, (3, 3), 2), TypeError, "takes filters and kernel_size by position"),
    (lambda: layers.Conv2D(4, 3, border_mode="same", padding="same"), TypeError,
     "got both border_mode= .* and padding="),
    (lambda: layers.Conv2D(4, 3, nb_row=3), TypeError, "nb_row= and nb_col= give the kernel's size together"),
    (lambda: layers.Conv2D(4, 3, dim_ordering="th"), ValueError, "channels-last"),
    (lambda: layers.Conv2D(4, 3, data_format="channels_first"), ValueError, "channels-last"),
    (lambda: layers.Conv2D(4, 3, dilation_rate=2), ValueError, "no dilated convolutions"),
    (lambda: layers.Conv2D(4, 3, kernel_constraint="max_norm"), ValueError, "no weight constraints"),
    (lambda: layers.Dense(4, activity_regularizer="l2"), ValueError, "penalises weights only"),
    (lambda: layers.DepthwiseConv2D(3, activity_regularizer="l1"), ValueError, "penalises weights only"),
    (lambda: layers.Dense(4, input_dim=3, input_shape=(3,)), ValueError, "got both input_dim"),
    (lambda: layers.Dropout(0.5, seed=3), ValueError, r"minicnn.seed\(n\)"),
    (lambda: layers.BatchNormalization(mode=2), ValueError, "only mode=0"),
    (lambda: layers.BatchNormalization(gamma_constraint="non_neg"), ValueError, "no weight constraints"),
])
def test_unsupported_arguments_are_refused_clearly(make, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=message):
            make()


def test_conv2d_16_3_3_is_a_3x3_kernel_not_a_stride(float64):
    with pytest.warns(UserWarning):
        layer = layers.Conv2D(16, 3, 3, input_shape=(8, 8, 1))
    layer.build(layer.input_shape)
    assert layer.params["kernel"].shape == (3, 3, 1, 16)
    assert layer.output_shape == (6, 6, 16)                            # stride 1
    assert layers.Conv2D(**layer.get_config()).kernel_size == (3, 3)  # its config is Keras 2's

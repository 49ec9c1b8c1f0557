"""Keras 2.2's losses and metrics: every loss against central differences (float64)
and against its Keras formula written out in NumPy, the fusion of a final softmax or
sigmoid (a layer of its own or inside the last layer), and the metrics fit and
evaluate log, under Keras' names."""
import numpy as np
import pytest

import minicnn
from minicnn import backend, losses, metrics
from minicnn.layers import Activation, Dense, Flatten
from minicnn.model.runner import Runner
from minicnn.models import Sequential
from minicnn.nn.losses import EPSILON

RNG = np.random.default_rng(0)


def numeric_gradient(loss, z, y, w, h=1e-6):
    """Central differences of the loss with respect to every element of z (float64)."""
    grad = np.zeros_like(z)
    for index in np.ndindex(*z.shape):
        up, down = z.copy(), z.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (float(loss.forward(up, y, w, validate=False))
                       - float(loss.forward(down, y, w, validate=False))) / (2 * h)
    return grad


def relative_error(a, b):
    return float(np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-12))


def check_gradient(loss, z, y, weights=None):
    backend.set_floatx("float64")
    y = loss.check_targets(np.asarray(y), z.shape[0], z.shape[1:], "test")
    loss.forward(z, y, weights, validate=False)
    analytic = loss.backward()
    assert analytic.shape == z.shape
    return relative_error(analytic, numeric_gradient(loss, z, y, weights))


def probabilities(shape, low=0.05, high=0.95):
    return RNG.uniform(low, high, size=shape)


def away_from(values, kinks, margin=1e-3):
    """``values`` nudged so that none lies within ``margin`` of a kink (|x - k| < margin)."""
    for kink in kinks:
        close = np.abs(values - kink) < margin
        values = np.where(close, kink + 2 * margin, values)
    return values


LABELS_5x3 = np.array([0, 2, 1, 1, 2])
WEIGHTS = np.array([1.0, 0.0, 2.5, 0.5, 1.0])


# ---- gradient checks ------------------------------------------------------------
@pytest.mark.parametrize("weights", [None, WEIGHTS], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("make_case", [
    lambda: (losses.SoftmaxCrossEntropy(), RNG.normal(size=(5, 3)) * 3, LABELS_5x3),
    lambda: (losses.SoftmaxCrossEntropy(), RNG.normal(size=(5, 3)), np.eye(3)[LABELS_5x3]),
    lambda: (losses.CategoricalCrossentropy(), probabilities((5, 3)), np.eye(3)[LABELS_5x3]),
    lambda: (losses.CategoricalCrossentropy(), probabilities((5, 3)), LABELS_5x3),
    lambda: (losses.SparseCategoricalCrossentropy(), probabilities((5, 3)), LABELS_5x3[:, None]),
    lambda: (losses.SigmoidBinaryCrossentropy(), RNG.normal(size=(5, 2, 3)) * 4,
             RNG.integers(0, 2, (5, 2, 3))),
    lambda: (losses.BinaryCrossentropy(), probabilities((5, 3)), RNG.random((5, 3))),
    lambda: (losses.MeanSquaredError(), RNG.normal(size=(5, 2, 3)), RNG.normal(size=(5, 2, 3))),
    lambda: (losses.MeanAbsoluteError(), RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))),
    lambda: (losses.Hinge(), away_from(RNG.normal(size=(5, 3)) * 2, [-1.0, 1.0]),
             RNG.choice([-1.0, 1.0], size=(5, 3))),
    lambda: (losses.SquaredHinge(), RNG.normal(size=(5, 3)) * 2, RNG.choice([-1.0, 1.0], size=(5, 3))),
    lambda: (losses.CategoricalHinge(), RNG.normal(size=(5, 3)), np.eye(3)[LABELS_5x3]),
], ids=["softmax-ce-labels", "softmax-ce-onehot", "ce-probabilities", "ce-probabilities-labels",
        "sparse-ce-n1", "sigmoid-bce-3d", "bce-probabilities", "mse-3d", "mae", "hinge",
        "squared-hinge", "categorical-hinge"])
def test_every_loss_gradient_matches_central_differences(make_case, weights):
    loss, z, y = make_case()
    if isinstance(loss, losses.MeanAbsoluteError):            # |z - t| has a kink at z = t
        z = y + away_from(z - y, [0.0])
    w = None if weights is None else backend.to_device(weights, dtype="float64")
    assert check_gradient(loss, z.astype(np.float64), y, w) < 1e-6


# ---- the values: Keras' formulas in NumPy ------------------------------------------
def keras_value(name, z, t, w=None):
    """The batch loss as Keras 2.2 computes it (float64), weights as in its
    weighted_masked_objective: sum(w l) / #{w != 0}."""
    def sigmoid(a):
        return 1 / (1 + np.exp(-a))
    if name == "softmax":
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        per = -(t * np.log(np.clip(p, EPSILON, 1 - EPSILON))).sum(1)
    elif name == "categorical_crossentropy":
        q = np.clip(z / z.sum(1, keepdims=True), EPSILON, 1 - EPSILON)
        per = -(t * np.log(q)).sum(1)
    elif name == "binary_crossentropy":
        q = np.clip(z, EPSILON, 1 - EPSILON)
        per = (-(t * np.log(q)) - (1 - t) * np.log(1 - q)).mean(-1)
    elif name == "sigmoid":
        q = np.clip(sigmoid(z), EPSILON, 1 - EPSILON)
        per = (-(t * np.log(q)) - (1 - t) * np.log(1 - q)).mean(-1)
    elif name == "mse":
        per = ((z - t) ** 2).mean(-1)
    elif name == "mae":
        per = np.abs(z - t).mean(-1)
    elif name == "hinge":
        per = np.maximum(1 - t * z, 0).mean(-1)
    elif name == "squared_hinge":
        per = (np.maximum(1 - t * z, 0) ** 2).mean(-1)
    elif name == "categorical_hinge":
        per = np.maximum(((1 - t) * z).max(-1) - (t * z).sum(-1) + 1, 0)
    if w is None:
        return per.mean()
    return (w * per).sum() / (w != 0).sum()


@pytest.mark.parametrize("loss, name, make_z, make_t", [
    (losses.SoftmaxCrossEntropy, "softmax", lambda: RNG.normal(size=(6, 4)),
     lambda: np.eye(4)[RNG.integers(0, 4, 6)]),
    (losses.CategoricalCrossentropy, "categorical_crossentropy", lambda: RNG.random((6, 4)) + 0.01,
     lambda: np.eye(4)[RNG.integers(0, 4, 6)]),
    (losses.BinaryCrossentropy, "binary_crossentropy", lambda: RNG.random((6, 2)),
     lambda: RNG.integers(0, 2, (6, 2)).astype(float)),
    (losses.SigmoidBinaryCrossentropy, "sigmoid", lambda: RNG.normal(size=(6, 2)),
     lambda: RNG.integers(0, 2, (6, 2)).astype(float)),
    (losses.MeanSquaredError, "mse", lambda: RNG.normal(size=(6, 3)), lambda: RNG.normal(size=(6, 3))),
    (losses.MeanAbsoluteError, "mae", lambda: RNG.normal(size=(6, 3)), lambda: RNG.normal(size=(6, 3))),
    (losses.Hinge, "hinge", lambda: RNG.normal(size=(6, 3)), lambda: RNG.choice([-1.0, 1.0], (6, 3))),
    (losses.SquaredHinge, "squared_hinge", lambda: RNG.normal(size=(6, 3)),
     lambda: RNG.choice([-1.0, 1.0], (6, 3))),
    (losses.CategoricalHinge, "categorical_hinge", lambda: RNG.normal(size=(6, 3)),
     lambda: np.eye(3)[RNG.integers(0, 3, 6)]),
])
def test_every_loss_equals_its_keras_formula_with_and_without_weights(loss, name, make_z, make_t):
    backend.set_floatx("float64")
    z, t = make_z(), make_t()
    w = np.array([1.0, 0.0, 2.0, 0.5, 3.0, 0.0])
    assert float(loss().forward(z, t)) == pytest.approx(keras_value(name, z, t), rel=1e-7)
    scaled = Runner([]).batch_weights(w)            # the model's scaling, Keras' rule
    assert float(loss().forward(z, t, scaled)) == pytest.approx(keras_value(name, z, t, w), rel=1e-7)


def test_fused_cross_entropies_stay_finite_where_probabilities_round_to_zero():
    z = np.array([[0.0, 120.0, -50.0]], dtype=np.float32)
    loss = losses.SoftmaxCrossEntropy()
    assert float(loss.forward(z, np.array([0]))) == pytest.approx(120.0, rel=1e-6)
    binary = losses.SigmoidBinaryCrossentropy()
    value = float(binary.forward(np.array([[100.0], [-100.0]], dtype=np.float32),
                                 np.array([[0.0], [0.0]], dtype=np.float32)))
    assert value == pytest.approx(50.0, rel=1e-6)               # (100 + 0) / 2
    assert np.isfinite(binary.backward()).all()


def test_losses_by_keras_name_and_alias():
    for name, cls in [("categorical_crossentropy", losses.CategoricalCrossentropy),
                      ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
                      ("binary_crossentropy", losses.BinaryCrossentropy),
                      ("mse", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
                      ("mean_absolute_error", losses.MeanAbsoluteError), ("hinge", losses.Hinge),
                      ("squared_hinge", losses.SquaredHinge),
                      ("categorical_hinge", losses.CategoricalHinge)]:
        assert type(losses.get(name)) is cls
    assert losses.mse is losses.MeanSquaredError and losses.serialize("mae") == "mean_absolute_error"
    with pytest.raises(ValueError, match="Unknown loss 'poisson'"):
        losses.get("poisson")


def test_targets_are_checked_per_loss():
    with pytest.raises(ValueError, match=r"targets of shape \(4, 3\) do not match .*\(4, 2\)"):
        losses.MeanSquaredError().check_targets(np.zeros((4, 3)), 4, (2,), "fit")
    with pytest.raises(ValueError, match=r"binary cross-entropy targets must lie in \[0, 1\]"):
        losses.BinaryCrossentropy().check_targets(np.array([0.0, 2.0]), 2, (1,), "fit")
    column = losses.BinaryCrossentropy().check_targets(np.array([0, 1, 1]), 3, (1,), "fit")
    assert column.shape == (3, 1) and column.dtype == np.float32          # (N,) -> (N, 1)
    labels = losses.SparseCategoricalCrossentropy().check_targets(np.array([[2], [0]]), 2, (3,), "f")
    assert labels.shape == (2,) and labels.dtype == np.int64


# ---- fusion -------------------------------------------------------------------------
def two_models(last):
    """The same weights: Dense(3) + Activation(...) and Dense(3, activation=...)."""
    minicnn.seed(3)
    apart = Sequential([Flatten(input_shape=(2, 2, 1)), Dense(3), Activation(last)])
    inside = Sequential([Flatten(input_shape=(2, 2, 1)), Dense(3, activation=last)])
    apart.build()
    inside.build()
    inside.set_weights(apart.get_weights())
    return apart, inside


@pytest.mark.parametrize("last, loss, fused, targets", [
    ("softmax", "categorical_crossentropy", losses.SoftmaxCrossEntropy, lambda n: np.arange(n) % 3),
    ("sigmoid", "binary_crossentropy", losses.SigmoidBinaryCrossentropy,
     lambda n: (np.arange(3 * n).reshape(n, 3) % 2).astype("float32")),
])
def test_an_activation_inside_the_last_layer_is_fused_like_a_layer_of_its_own(last, loss, fused,
                                                                             targets):
    apart, inside = two_models(last)
    x = np.random.default_rng(1).random((10, 2, 2, 1)).astype("float32")
    y = targets(10)
    for model in (apart, inside):
        model.compile(loss=loss, optimizer="sgd", metrics=["accuracy"])
        assert type(model.loss) is fused
    assert inside.runner.logit_layers[-1].layer is inside.layers[-1]     # run without activation
    assert inside.layers[-1].activation is not None                      # ... and put back
    np.testing.assert_allclose(inside.predict(x), apart.predict(x), rtol=1e-6)
    assert ((apart.predict(x) >= 0) & (apart.predict(x) <= 1)).all()       # probabilities
    np.testing.assert_allclose(inside.evaluate(x, y, verbose=0), apart.evaluate(x, y, verbose=0),
                               rtol=1e-6)
    history_inside = inside.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    history_apart = apart.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    np.testing.assert_allclose(history_inside.history["loss"], history_apart.history["loss"], rtol=1e-6)
    for a, b in zip(inside.get_weights(), apart.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_loss_that_absorbs_nothing_trains_through_the_softmax():
    apart, _ = two_models("softmax")
    apart.compile(loss="mse", optimizer="sgd")
    assert type(apart.loss) is losses.MeanSquaredError and not apart.runner.fused
    assert apart.runner.logit_layers is apart.layers


def test_cross_entropy_without_a_final_softmax_takes_probabilities_as_keras():
    """Keras' categorical_crossentropy on a model without a softmax reads its outputs as
    probabilities (rows rescaled to sum 1, clipped); minicnn does the same."""
    minicnn.seed(5)
    model = Sequential([Flatten(input_shape=(3,)), Dense(3, activation="sigmoid")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    assert type(model.loss) is losses.CategoricalCrossentropy
    x = np.random.default_rng(2).random((7, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(7) % 3]
    p = model.predict(x).astype(np.float64)
    expected = keras_value("categorical_crossentropy", p, y)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_binary_model_with_one_sigmoid_output_trains_on_flat_labels():
    minicnn.seed(6)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(64, 2)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")                           # shape (64,)
    model = Sequential([Flatten(input_shape=(2,)), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=minicnn.optimizers.SGD(lr=0.5),
                  metrics=["accuracy"])
    assert type(model.loss) is losses.SigmoidBinaryCrossentropy
    assert model.metrics_names == ["loss", "acc"]                          # binary accuracy
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    assert history.history["acc"][-1] > 0.9
    assert model.predict_classes(x).shape == (64, 1)
    assert (model.predict_classes(x)[:, 0] == y).mean() > 0.9


# ---- metrics --------------------------------------------------------------------------
def test_metric_functions_against_numpy():
    xp_pred = np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2], [0.2, 0.2, 0.6]])
    labels = np.array([1, 0, 0, 1])
    onehot = np.eye(3)[labels]
    np.testing.assert_array_equal(metrics.categorical_accuracy(onehot, xp_pred), [1, 0, 1, 0])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(labels[:, None], xp_pred),
                                  [1, 0, 1, 0])
    np.testing.assert_array_equal(metrics.top_k_categorical_accuracy(onehot, xp_pred, k=1),
                                  [1, 0, 1, 0])
    # sample 1: true class 0 scores 0.3, tied with class 1 at the boundary: counts as in
    np.testing.assert_array_equal(metrics.top_k_categorical_accuracy(onehot, xp_pred, k=2),
                                  [1, 1, 1, 1])
    np.testing.assert_array_equal(metrics.sparse_top_k_categorical_accuracy(labels, xp_pred, k=2),
                                  [1, 1, 1, 1])
    binary = metrics.binary_accuracy(np.array([[1.0, 0.0], [1.0, 1.0]]),
                                     np.array([[0.7, 0.6], [0.2, 0.9]]))
    np.testing.assert_allclose(binary, [0.5, 0.5])
    mse = metrics.get("mse")
    assert mse.name == "mean_squared_error"
    np.testing.assert_allclose(mse(labels, xp_pred), ((xp_pred - onehot) ** 2).mean(1))


def my_metric(y_true, y_pred):
    """The largest predicted probability of each sample."""
    return y_pred.max(axis=1)


def test_compile_metrics_names_logs_and_evaluate_as_keras():
    minicnn.seed(8)
    rng = np.random.default_rng(8)
    x = rng.random((37, 4, 4, 1)).astype("float32")
    y = rng.integers(0, 6, 37)
    model = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(6), Activation("softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy", "top_k_categorical_accuracy", "mse", "mae", my_metric, "acc"])
    names = ["acc", "top_k_categorical_accuracy", "mean_squared_error", "mean_absolute_error",
             "my_metric", "acc_1"]
    assert model.metrics_names == ["loss"] + names
    values = model.evaluate(x, y, batch_size=8, verbose=0)
    p, onehot = model.predict(x).astype(np.float64), np.eye(6)[y]
    expected = [keras_value("softmax", np.log(p), onehot),
                (p.argmax(1) == y).mean(),
                ((p > p[np.arange(37), y][:, None]).sum(1) < 5).mean(),
                ((p - onehot) ** 2).mean(), np.abs(p - onehot).mean(), p.max(1).mean(),
                (p.argmax(1) == y).mean()]
    np.testing.assert_allclose(values, expected, rtol=1e-5)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x, y))
    assert list(history.history) == (["loss"] + names + ["val_loss"] + ["val_" + n for n in names]
                                     + ["lr"])


def test_evaluate_returns_a_float_without_metrics_and_acc_picks_by_loss():
    minicnn.seed(9)
    x = np.random.default_rng(9).random((8, 3)).astype("float32")
    model = Sequential([Flatten(input_shape=(3,)), Dense(2), Activation("softmax")])
    model.compile(optimizer="sgd")
    assert model.metrics_names == ["loss"]
    value = model.evaluate(x, np.arange(8) % 2, verbose=0)
    assert type(value) is float
    assert type(model.train_on_batch(x, np.arange(8) % 2)) is float
    model.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["acc", "ce"])
    accuracy = model.runner.metrics[0]
    assert accuracy.name == "acc" and accuracy.function is metrics.binary_accuracy
    assert model.runner.metrics[1].loss_class is losses.BinaryCrossentropy
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        model.compile(optimizer="sgd", metrics=["f1"])


# ---- the CuPy code path (tests/strict_xp.py: no hidden host copies) ----------------------
LOSS_CASES = [
    (losses.SoftmaxCrossEntropy, lambda: RNG.normal(size=(6, 4)), lambda: RNG.integers(0, 4, 6)),
    (losses.CategoricalCrossentropy, lambda: RNG.random((6, 4)) + 0.05,
     lambda: np.eye(4)[RNG.integers(0, 4, 6)]),
    (losses.SigmoidBinaryCrossentropy, lambda: RNG.normal(size=(6, 2)),
     lambda: RNG.integers(0, 2, (6, 2)).astype(float)),
    (losses.BinaryCrossentropy, lambda: RNG.random((6, 2)), lambda: RNG.random((6, 2))),
    (losses.MeanSquaredError, lambda: RNG.normal(size=(6, 3)), lambda: RNG.normal(size=(6, 3))),
    (losses.MeanAbsoluteError, lambda: RNG.normal(size=(6, 3)), lambda: RNG.normal(size=(6, 3))),
    (losses.Hinge, lambda: RNG.normal(size=(6, 3)), lambda: RNG.choice([-1.0, 1.0], (6, 3))),
    (losses.SquaredHinge, lambda: RNG.normal(size=(6, 3)), lambda: RNG.choice([-1.0, 1.0], (6, 3))),
    (losses.CategoricalHinge, lambda: RNG.normal(size=(6, 4)), lambda: RNG.integers(0, 4, 6)),
]


@pytest.mark.parametrize("loss_class, make_z, make_t", LOSS_CASES,
                         ids=[case[0].__name__ for case in LOSS_CASES])
def test_losses_and_metrics_on_the_device_path_equal_numpy(strict_backend, loss_class, make_z, make_t):
    z, t = make_z().astype("float32"), make_t()
    w = np.array([1.0, 0.0, 2.0, 0.5, 3.0, 1.0], dtype="float32")
    results = []
    for device in (False, True):
        if device:
            backend.use_array_module(strict_backend, "strict")
        else:
            backend.set_backend("numpy")
        loss = loss_class()
        targets = backend.to_device(loss.check_targets(np.asarray(t), 6, z.shape[1:], "test"))
        value = loss.forward(backend.to_device(z), targets, backend.to_device(w), validate=False)
        grad = loss.backward()
        predictions = loss.predictions()
        sums = [metrics.sample_sum(metrics.get(name, loss, z.shape[1:]), targets, predictions)
                for name in ("acc", "mse", "mae")]
        results.append([backend.to_host(a) for a in (value, grad, predictions, *sums)])
    for on_device, on_host in zip(*reversed(results)):
        np.testing.assert_allclose(on_device, on_host, rtol=1e-6)

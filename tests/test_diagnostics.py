"""minicnn.diagnostics: per-layer statistics, and batch-norm statistics estimated again."""
import math

import numpy as np
import pytest

import minicnn
from minicnn import diagnostics, layers, nn
from minicnn.layers import Activation, Conv2D, Flatten
from minicnn.models import Sequential


def _model(textbook=False):
    """A small model with two batch norms, of the fast classes or the textbook's."""
    minicnn.seed(0)
    kinds = nn if textbook else layers
    model = Sequential([kinds.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                        kinds.BatchNormalization(), kinds.Dropout(0.2),
                        kinds.Conv2D(5, 3, activation="relu"), kinds.BatchNormalization(),
                        kinds.Conv2D(3, 4), Flatten(), Activation("softmax")])
    model.compile(optimizer="adam")
    return model


def _data(n=64):
    rng = np.random.default_rng(1)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, n)


def test_layer_outputs_are_the_forward_pass_and_its_gradients():
    model = _model()
    x, y = _data()
    weights = model.get_weights()
    rows, loss = diagnostics.layer_outputs(model, x, y, training=False)
    assert [row["name"] for row in rows] == [layer.name for layer in model.layers[:-1]]  # softmax fused
    h = x
    for row, layer in zip(rows, model.layers):
        h = layer.forward(h, training=False)
        np.testing.assert_allclose(row["output"], h, rtol=1e-6)
    logits = rows[-1]["output"].astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(len(y)), y])), rel=1e-5)
    np.testing.assert_allclose(rows[-1]["grad"], (p - np.eye(3)[y]) / len(y), atol=1e-6)
    # the gradient reaching the flatten's input is the last convolution's output gradient
    np.testing.assert_allclose(rows[-2]["grad"].reshape(len(y), 3), rows[-1]["grad"], atol=1e-7)
    for a, b in zip(weights, model.get_weights()):                # nothing changed
        np.testing.assert_array_equal(a, b)


def test_training_mode_leaves_moving_statistics_and_dropout_draws_alone():
    model = _model()
    x, y = _data()
    weights = model.get_weights()
    first, _ = diagnostics.layer_outputs(model, x, y)
    second, _ = diagnostics.layer_outputs(model, x, y)                  # the same dropout mask again
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a["output"], b["output"])
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_activation_statistics_and_their_table():
    model = _model()
    x, y = _data()
    rows, loss = diagnostics.activation_statistics(model, x, y)
    outputs, _ = diagnostics.layer_outputs(model, x, y)
    for row, out in zip(rows, outputs):
        assert row["std"] == pytest.approx(float(out["output"].std()), rel=1e-5)
        assert row["zeros"] == pytest.approx(float(np.mean(out["output"] == 0)))
        assert row["grad_std"] == pytest.approx(float(out["grad"].std()), rel=1e-5)
    assert rows[2]["zeros"] > 0.1                                 # dropout 0.2 in training mode
    assert abs(loss - math.log(3)) < 1.0                          # a fresh 3-class model
    table = diagnostics.format_statistics(rows, loss)
    assert table.splitlines()[0].split() == ["layer", "type", "mean", "std", "zeros", "grad", "std"]
    assert table.endswith(f"loss {loss:.4f}")
    no_labels, no_loss = diagnostics.activation_statistics(model, x)
    assert no_loss is None and all(row["grad_std"] is None for row in no_labels)
    assert "-" in diagnostics.format_statistics(no_labels).splitlines()[1].split()


@pytest.mark.parametrize("textbook", [False, True], ids=["fast", "textbook"])
def test_recomputed_statistics_are_those_of_what_reaches_each_batch_norm(textbook):
    model = _model(textbook)
    x, y = _data(100)
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    changes = diagnostics.recompute_batch_norm_statistics(model, x, batch_size=30)
    assert list(changes) == ["batch_normalization_1", "batch_normalization_2"]
    h = x
    for layer in model.layers:
        if layer.name in changes:
            values = h.reshape(-1, h.shape[-1]).astype(np.float64)
            np.testing.assert_allclose(minicnn.to_host(layer.state["moving_mean"]),
                                       values.mean(axis=0), rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(minicnn.to_host(layer.state["moving_variance"]),
                                       values.var(axis=0, ddof=1), rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(changes[layer.name][2], values.mean(axis=0), rtol=1e-4,
                                       atol=1e-6)
        h = minicnn.to_host(layer.forward(minicnn.to_device(h), training=False))


def test_recompute_refuses_before_changing_anything():
    model = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), Flatten()])
    with pytest.raises(ValueError, match="no BatchNormalization"):
        diagnostics.recompute_batch_norm_statistics(model, np.zeros((2, 5, 5, 1), np.float32))
    model = _model()
    weights = model.get_weights()
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        diagnostics.recompute_batch_norm_statistics(model, _data()[0], batch_size=0)
    with pytest.raises(ValueError, match=r"shape \(samples, 8, 8, 1\)"):
        diagnostics.recompute_batch_norm_statistics(model, np.zeros((2, 5, 5, 1), np.float32))
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)

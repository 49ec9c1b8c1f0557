"""minicnn.profiler and Sequential.profile: per-layer times of one training step."""
import numpy as np
import pytest

import minicnn
from minicnn import profiler
from minicnn.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from minicnn.models import Sequential


def _model(softmax=True):
    minicnn.seed(0)
    layers = [Conv2D(4, 3, activation="relu", input_shape=(10, 10, 1)), BatchNormalization(),
              Dropout(0.2), MaxPooling2D(2), Flatten(), Dense(5)]
    return Sequential(layers + ([Activation("softmax")] if softmax else []))


def _data(n=16):
    rng = np.random.default_rng(1)
    return rng.random((n, 10, 10, 1), dtype=np.float32), rng.integers(0, 5, n)


def test_rows_for_every_layer_with_positive_times_and_shares():
    model = _model()
    model.compile(optimizer="adam")
    x, y = _data()
    lines = []
    rows = model.profile(x, y, repeats=2, print_fn=lines.append)
    assert [r["name"] for r in rows] == [layer.name for layer in model.layers]
    assert rows[0]["output_shape"] == (16, 8, 8, 4)
    assert rows[-1]["output_shape"] == (16, 5) and "fused" in rows[-1]["type"]
    for r in rows:
        assert r["forward_ms"] > 0 and r["backward_ms"] > 0, r
    assert sum(r["share"] for r in rows) == pytest.approx(100.0)
    table = lines[0]
    assert "Total" in table and "conv2d_1" in table and "Backward ms" in table
    assert model.optimizer.iterations == 0                  # no optimiser step


def test_profiling_leaves_weights_statistics_and_dropout_rng_alone():
    model = _model()
    model.compile(optimizer="sgd")
    x, _ = _data()
    before = model.get_weights()                            # includes moving_mean / variance
    bn = model.layers[1]
    mean0 = np.array(bn.state["moving_mean"])
    expected = minicnn.backend.rng().bit_generator.state
    profiler.profile(model, x, repeats=2)                   # random labels
    after = model.get_weights()
    assert len(before) == len(after)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(bn.state["moving_mean"], mean0)
    assert minicnn.backend.rng().bit_generator.state == expected
    assert model.layers[0].compute_input_grad is False      # compile's setting is kept


def test_uncompiled_model_without_softmax_gets_a_loss_row():
    model = _model(softmax=False)
    x, y = _data(8)
    rows = profiler.profile(model, x, y, repeats=1)
    assert [r["name"] for r in rows] == [layer.name for layer in model.layers] + ["loss"]
    assert model.layers[0].compute_input_grad is True       # put back as it was
    assert "Total (one step)" in profiler.format_profile(rows)


def test_bad_repeats():
    with pytest.raises(ValueError, match="repeats"):
        profiler.profile(_model(), _data(4)[0], repeats=0)


def test_training_after_a_profile_is_the_same_as_without():
    x, y = _data()
    results = []
    for do_profile in (False, True):
        model = _model()                                    # seeds 0 before building
        model.compile(optimizer="adam")
        if do_profile:
            profiler.profile(model, x, repeats=1)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # shuffles and drops out
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_profile_on_the_strict_cupy_stand_in(strict_backend):
    model = _model()                                        # built on the stand-in's arrays
    model.compile(optimizer="adam")
    x, y = _data(8)
    before = model.get_weights()
    rows = profiler.profile(model, x, y, repeats=1)
    assert len(rows) == len(model.layers)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)

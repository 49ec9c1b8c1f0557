"""examples/train_step_by_step.py: the hand-written loop is exactly what fit runs."""
import importlib.util
import os

import numpy as np
import pytest

from minicnn.callbacks import LearningRateScheduler
from minicnn.optimizers import Adam

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_example():
    path = os.path.join(ROOT, "examples", "train_step_by_step.py")
    spec = importlib.util.spec_from_file_location("train_step_by_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    return _load_example()


@pytest.fixture(scope="module")
def data(example):
    (x, y), _ = example.load_mnist(limit=384)
    return x, y


def test_losses_and_weights_match_fit(example, data):
    import minicnn
    x, y = data
    lines = []
    losses, model = example.train_by_hand(x, y, steps=3, batch_size=128, seed=3,
                                          print_fn=lines.append)
    assert len(losses) == 3 and all(np.isfinite(losses))
    text = "\n".join(lines)
    assert "(128, 26, 26, 12)" in text and "dL/dinput not computed" in text  # shapes printed once

    # fit, one batch per call: each call's epoch loss is that batch's loss
    # (shuffle=False draws nothing; the optimizer keeps its state between calls).
    minicnn.seed(3)
    ref = example.go_crazy()
    ref.compile(loss="categorical_crossentropy", optimizer=Adam(lr=0.003))
    fit_losses = []
    for b in range(3):
        sl = slice(b * 128, (b + 1) * 128)
        h = ref.fit(x[sl], y[sl], batch_size=128, epochs=1, shuffle=False, verbose=0,
                    callbacks=[LearningRateScheduler(example.inverse_time)])
        fit_losses.append(h.history["loss"][0])
    np.testing.assert_allclose(losses, fit_losses, rtol=1e-6, atol=1e-7)

    # one fit over the 384 images: the same weights and batch-norm statistics
    whole = example.train_with_fit(x, y, steps=3, batch_size=128, seed=3)
    for a, b, c in zip(model.get_weights(), whole.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-6)


def test_check_beyond_one_epoch_is_refused_before_training(example, monkeypatch, capsys):
    def must_not_train(*args, **kwargs):
        raise AssertionError("trained before checking the arguments")
    monkeypatch.setattr(example, "train_by_hand", must_not_train)
    with pytest.raises(SystemExit) as exit_info:
        example.main(["--steps", "470", "--batch-size", "128", "--check"])
    assert exit_info.value.code == 2
    assert "one pass over the 60,000 training images" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--steps", "--batch-size"])
def test_counts_below_one_are_refused(example, flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        example.main([flag, "0"])
    assert exit_info.value.code == 2
    assert f"argument {flag}: must be 1 or more, got 0" in capsys.readouterr().err

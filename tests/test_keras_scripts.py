"""Scripts written as a Keras 2.2 user writes them (examples/keras/), only their imports
changed to minicnn, run end to end on a small slice of MNIST.

Each script is run as __main__ with ``minicnn.datasets.mnist.load_data`` giving the first
600 training and 300 test images; nothing else in the script is changed.
"""
import os
import re
import runpy
import warnings

import pytest

from minicnn.datasets import mnist

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "examples", "keras")
FULL_LOAD = mnist.load_data


def small_mnist():
    (x, y), (x_test, y_test) = FULL_LOAD()
    return (x[:600], y[:600]), (x_test[:300], y_test[:300])


def run(name, monkeypatch, capsys):
    """Run examples/keras/<name> on the small slice; its printed output."""
    monkeypatch.setattr(mnist, "load_data", small_mnist)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runpy.run_path(os.path.join(SCRIPTS, name), run_name="__main__")
    return capsys.readouterr().out, caught


def number_after(label, out):
    return float(re.search(re.escape(label) + r"\s*([0-9.]+)", out).group(1))


def test_every_script_is_tested():
    scripts = sorted(f for f in os.listdir(SCRIPTS) if f.endswith(".py"))
    assert scripts == sorted(["mnist_cnn.py", "keras1_style.py", "callbacks_save_resume.py",
                              "augmentation_generator.py", "losses_metrics.py"])


def test_mnist_cnn(monkeypatch, capsys):
    out, _ = run("mnist_cnn.py", monkeypatch, capsys)
    assert "600 train samples" in out and "Train on 600 samples, validate on 300 samples" in out
    assert number_after("Test accuracy:", out) > 0.5          # chance: 0.1


def test_keras1_style(monkeypatch, capsys):
    out, caught = run("keras1_style.py", monkeypatch, capsys)
    messages = " ".join(str(w.message) for w in caught)
    for converted in ("rows, cols -> kernel_size", "border_mode", "subsample", "init",
                      "output_dim", "nb_epoch"):
        assert converted in messages, converted              # each conversion warned of
    assert number_after("Test accuracy (predict_classes):", out) > 0.3


def test_callbacks_save_resume(monkeypatch, capsys):
    out, _ = run("callbacks_save_resume.py", monkeypatch, capsys)
    assert "logged: ['acc', 'loss', 'lr', 'val_acc', 'val_loss']" in out
    assert "resumed model, test [loss, acc]:" in out and "best checkpoint, test [loss, acc]:" in out
    assert "learning rate now 0.00" in out


def test_augmentation_generator(monkeypatch, capsys):
    out, _ = run("augmentation_generator.py", monkeypatch, capsys)
    assert "separable_conv2d" in out and "global_average_pooling2d" in out     # the summary
    assert "test [loss, acc]:" in out
    assert 0.0 <= number_after("test accuracy from predict_generator:", out) <= 1.0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_losses_metrics(monkeypatch, capsys):
    out, _ = run("losses_metrics.py", monkeypatch, capsys)
    assert "odd/even [loss, acc]:" in out
    assert "['loss', 'categorical_accuracy', 'top_k_categorical_accuracy']" in out
    assert "sparse labels [loss, acc]:" in out

"""Bad input to a model, its optimizer and its weights files: a clear error that
names the problem and the fix, raised before anything changes."""
import os
import stat

import numpy as np
import pytest

import minicnn
from minicnn import layers
from minicnn.models import Sequential
from minicnn.optimizers import SGD, Adam


def model(dense=3):
    minicnn.seed(0)
    m = Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                    layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(dense),
                    layers.Activation("softmax")])
    m.compile("categorical_crossentropy", Adam())
    return m


def data(n=12):
    rng = np.random.default_rng(0)
    return rng.random((n, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, n)


def snapshot(m):
    return [w.copy() for w in m.get_weights()], m.optimizer.iterations, m.history


def assert_unchanged(m, before):
    weights, iterations, history = before
    for now, then in zip(m.get_weights(), weights):
        np.testing.assert_array_equal(now, then)
    assert m.optimizer.iterations == iterations and m.history is history


def test_one_layer_instead_of_a_list():
    with pytest.raises(TypeError, match=r"pass a list of layers, Sequential\(\[Dense"):
        Sequential(layers.Dense(3))


def test_a_model_whose_output_is_not_one_score_per_class_is_refused_at_compile():
    m = Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 1)), layers.Activation("softmax")])
    with pytest.raises(ValueError, match=r"outputs \(6, 6, 4\) per sample.*Flatten"):
        m.compile()
    assert m.optimizer is None


def test_metrics_may_be_one_name():
    m = model()
    m.compile(metrics="accuracy")
    assert m.metrics_names == ["loss", "acc"]
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        m.compile(metrics="f1")


@pytest.mark.parametrize("y,match", [
    (None, "dtype object"), ({"a": 1}, "dtype object"), ((i for i in range(12)), "dtype object"),
    ("abc", "dtype <U3"), ([[0, 1], [0]], "np.asarray failed"),
    (np.array(["a"] * 12), "dtype <U1"), (np.array([[1, 0, 0]] * 12, dtype=object), "dtype object")])
def test_targets_that_are_no_numbers(y, match):
    m, (x, _) = model(), data()
    before = snapshot(m)
    with pytest.raises(TypeError, match=rf"fit: y must .*{match}"):
        m.fit(x, y, verbose=0)
    assert_unchanged(m, before)


def test_soft_targets_outside_zero_one():
    m, (x, _) = model(), data()
    y = np.tile([[2.0, -1.0, 0.0]], (12, 1))                # rows sum to 1, yet no probabilities
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*\[-1.0, 2.0\]"):
        m.fit(x, y, verbose=0)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"verbose": 5}, ValueError, "verbose must be 0"), ({"verbose": "yes"}, ValueError, "verbose"),
    ({"shuffle": "batch"}, TypeError, "shuffle must be True or False")])
def test_fit_options(kwargs, error, match):
    m, (x, y) = model(), data()
    before = snapshot(m)
    with pytest.raises(error, match=match):
        m.fit(x, y, **kwargs)
    assert_unchanged(m, before)
    with pytest.raises(ValueError, match="evaluate: verbose"):
        m.evaluate(x, y, verbose="x")


def test_one_optimizer_for_two_models_is_refused_before_any_update():
    a, (x, y) = model(), data()
    a.fit(x, y, verbose=0)
    b = Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                    layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(5), layers.Dense(3),
                    layers.Activation("softmax")])
    b.compile(optimizer=a.optimizer)
    b_before, state = b.get_weights(), a.optimizer.get_state()
    with pytest.raises(ValueError, match=r"parameter 2 has shape \(36, 5\).*\(36, 3\).*its own optimizer"):
        b.fit(x, y, verbose=0)
    for now, then in zip(b.get_weights(), b_before):
        np.testing.assert_array_equal(now, then)              # not even the first layers moved
    assert a.optimizer.iterations == state[0]
    for i, slots in state[1].items():                         # a's moments untouched too
        for now, then in zip(a.optimizer._slots[i], slots):
            np.testing.assert_array_equal(now, then)


@pytest.mark.parametrize("lr", [-5, 0, float("nan"), "0.1", True, None])
def test_learning_rate_is_checked_whenever_it_is_set(lr):
    opt = SGD(lr=0.1)
    with pytest.raises(ValueError, match="SGD: lr must be a finite positive number"):
        opt.lr = lr
    assert opt.lr == 0.1
    with pytest.raises(ValueError, match="lr must be a finite positive number"):
        Adam(lr=lr)


@pytest.mark.parametrize("kwargs,match", [
    ({"momentum": "0.9"}, "momentum must be a number"), ({"momentum": float("nan")}, "momentum"),
    ({"weight_decay": float("nan")}, "weight_decay must be a finite"),
    ({"weight_decay": float("inf")}, "weight_decay")])
def test_sgd_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD(**kwargs)


@pytest.mark.parametrize("bad,match", [
    (lambda w: np.full_like(w, np.nan), "holds NaN or inf"),
    (lambda w: w.astype(np.complex64), "has dtype complex64, not real numbers"),
    (lambda w: w.astype("U3"), "has dtype <U3, not real numbers")])
def test_weights_files_and_lists_with_values_that_are_no_weights(tmp_path, bad, match):
    m = model()
    good = m.get_weights()
    path = str(tmp_path / "w.npz")
    m.save_weights(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    first = "000/conv2d_1/kernel"
    arrays[first] = bad(arrays[first])
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=rf"load_weights: .*layer 000 conv2d_1 kernel {match}"):
        m.load_weights(path)
    with pytest.raises(ValueError, match=rf"set_weights: conv2d_1/kernel {match}"):
        m.set_weights([bad(good[0])] + good[1:])
    for now, then in zip(m.get_weights(), good):
        np.testing.assert_array_equal(now, then)


def test_diverged_weights_never_replace_a_good_file(tmp_path):
    m = model()
    path = str(tmp_path / "w.npz")
    m.save_weights(path)
    with open(path, "rb") as f:
        good = f.read()
    m.layers[3].params["bias"][1] = np.inf
    with pytest.raises(ValueError, match=r"save_weights: layer 003/dense_1/bias holds NaN or inf.*"
                                         "nothing was written"):
        m.save_weights(path)
    with open(path, "rb") as f:
        assert f.read() == good
    assert os.listdir(tmp_path) == ["w.npz"]                  # no temp file left


def test_weights_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        model().save_weights(str(tmp_path / "w.npz"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "w.npz").st_mode) == 0o644


def test_weights_paths_that_are_no_file_names(tmp_path):
    m = model()
    with pytest.raises(ValueError, match=r"save_weights: '' is empty; give a file name"):
        m.save_weights("")
    with pytest.raises(ValueError, match=r"save_weights: .* is a folder; give a file name"):
        m.save_weights(str(tmp_path))
    with pytest.raises(TypeError, match=r"load_weights: path must be a file path .* int 3"):
        m.load_weights(3)
    m.save_weights(tmp_path / "w.npz")                        # a pathlib.Path is a file name
    m.load_weights(tmp_path / "w.npz")

"""The CuPy code path, proven without a GPU.

Every layer, the loss, the optimizers and a short fit run through a strict
stand-in array module (tests/strict_xp.py) that raises on any implicit host
conversion and on any numpy call on a backend array, which is what CuPy
rejects. Results must equal the NumPy run. Tests marked ``gpu`` repeat the
comparison on real CuPy and skip where there is none.
"""
import re

import numpy as np
import pytest

import minicnn
from minicnn import backend, layers, nn
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.models import Sequential
from minicnn.optimizers import SGD, Adam
from tests import strict_xp

LAYERS = [  # (factory, input shape with batch)
    (lambda: layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"), (2, 7, 9, 3)),
    (lambda: layers.Conv2D(3, 1), (2, 5, 4, 2)),
    (lambda: layers.Conv2D(5, 3, padding="same", activation="relu"), (2, 6, 5, 3)),
    (lambda: layers.Conv2D(4, (2, 3)), (3, 6, 7, 2)),
    (lambda: layers.Conv2D(4, 3), (2, 7, 7, 1)),
    (lambda: nn.Conv2D(3, 3), (2, 5, 6, 2)),                       # the textbook class
    (lambda: nn.BatchNormalization(), (3, 4, 5, 2)),
    (lambda: nn.MaxPooling2D(2), (2, 6, 8, 3)),
    (lambda: nn.Dropout(0.3), (2, 4, 4, 2)),
    (lambda: layers.MaxPooling2D(2), (2, 6, 8, 3)),
    (lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (2, 7, 8, 3)),
    (lambda: layers.BatchNormalization(), (3, 4, 5, 2)),
    (lambda: layers.Dropout(0.3), (2, 4, 4, 2)),
    (lambda: layers.Dense(5, activation="relu"), (3, 7)),
    (lambda: layers.Flatten(), (2, 3, 4, 2)),
    (lambda: layers.Activation("softmax"), (3, 6)),
    (lambda: layers.ReLU(), (3, 6)),
]


def run_layer(make, shape, training, on_device):
    """Forward + backward of a fresh layer (seed 0); returns host copies of everything."""
    minicnn.seed(0)
    layer = make()
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal(shape).astype(np.float32), None
    x_dev = backend.to_device(x)
    y = layer.forward(x_dev, training=training)
    g = backend.to_device(rng.standard_normal(tuple(y.shape)).astype(np.float32))
    dx = layer.backward(g)
    out = {"y": backend.to_host(y), "dx": backend.to_host(dx)}
    out.update({f"grad_{k}": backend.to_host(v) for k, v in layer.grads.items()})
    out.update({f"state_{k}": backend.to_host(v) for k, v in layer.state.items()})
    return out


def compare(make, shape, training, module, name, rtol):
    backend.set_backend("numpy")
    ref = run_layer(make, shape, training, False)
    with strict_xp.installed() if module is None else _installed(module, name):
        got = run_layer(make, shape, training, True)
    assert set(got) == set(ref)
    for key in ref:
        if "Dropout" in repr(make()) and key in ("y", "dx") and name != "numpy":
            continue  # numpy's masks come from raw bits, other modules' from uniforms
        np.testing.assert_allclose(got[key], ref[key], rtol=rtol, atol=rtol, err_msg=key)


class _installed:
    def __init__(self, module, name):
        self.module, self.name = module, name

    def __enter__(self):
        backend.use_array_module(self.module, self.name)

    def __exit__(self, *exc):
        backend.set_backend("numpy")


@pytest.mark.parametrize("make,shape", LAYERS)
@pytest.mark.parametrize("training", [True, False])
def test_every_layer_runs_on_strict_module(make, shape, training):
    compare(make, shape, training, None, "strict", rtol=1e-6)


def _loss_and_optimizers():
    """Loss value and gradient, then three steps of plain, momentum and Nesterov SGD and of Adam."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 2, 2, 0])
    params = [rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32)]
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    loss = SoftmaxCrossEntropy()
    value = loss.forward(backend.to_device(logits), backend.to_device(labels))
    d = loss.backward()
    out = [backend.to_host(value), backend.to_host(d)]
    for opt in (SGD(lr=0.1), SGD(lr=0.1, momentum=0.9, weight_decay=1e-3),
                SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3), Adam(lr=0.01)):
        ps = [backend.to_device(p.copy()) for p in params]
        for _ in range(3):
            opt.step(ps, [backend.to_device(g) for g in grads])
        out += [backend.to_host(p) for p in ps]
    return out


def _fit_evaluate_predict():
    """A two-epoch fit with validation, evaluate and predict of a small model; host results."""
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    minicnn.seed(0)
    model = Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                        layers.BatchNormalization(), layers.Conv2D(4, 3),   # folded for inference
                        layers.MaxPooling2D(2), layers.Conv2D(3, 2),
                        layers.Flatten(), layers.Activation("softmax")])
    model.compile("categorical_crossentropy", Adam(lr=0.01))
    hist = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y))
    return hist.history, model.evaluate(x, y), model.predict(x, batch_size=16)


def _check_same_fit(got, ref):
    for key in ref[0]:
        np.testing.assert_allclose(got[0][key], ref[0][key], rtol=1e-5)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-5)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-5, atol=1e-6)


def test_loss_and_optimizers_on_strict_module():
    backend.set_backend("numpy")
    ref = _loss_and_optimizers()
    with strict_xp.installed():
        got = _loss_and_optimizers()
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_fit_evaluate_predict_on_strict_module():
    backend.set_backend("numpy")
    ref = _fit_evaluate_predict()
    with strict_xp.installed():
        got = _fit_evaluate_predict()
    _check_same_fit(got, ref)


@pytest.mark.gpu
def test_loss_optimizers_and_fit_on_real_cupy_match_numpy():
    """The fit runs in float64, so that cuBLAS' other summation order stays far below rtol."""
    cupy = _cupy_or_skip()
    backend.set_backend("numpy")
    ref_opt = _loss_and_optimizers()
    backend.set_floatx("float64")
    ref_fit = _fit_evaluate_predict()
    with _installed(cupy, "cupy"):
        got_fit = _fit_evaluate_predict()
        backend.set_floatx("float32")
        got_opt = _loss_and_optimizers()
    for a, b in zip(got_opt, ref_opt):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    _check_same_fit(got_fit, ref_fit)


def _fit_transfers(epochs, verbose, n=40 * 16):
    """Device -> host copies during fit on the stand-in (no validation data)."""
    rng = np.random.default_rng(1)
    x = rng.random((n, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, n)
    with strict_xp.installed():
        minicnn.seed(0)
        model = Sequential([layers.Conv2D(2, 3, input_shape=(8, 8, 1)), layers.Flatten(),
                            layers.Activation("softmax")])
        model.compile("categorical_crossentropy", "sgd")
        xd = backend.to_device(x)
        before = strict_xp.strict.to_host_count
        model.fit(xd, y, batch_size=16, epochs=epochs, verbose=verbose)
        return strict_xp.strict.to_host_count - before


def test_fit_reads_the_device_once_per_epoch_without_a_progress_bar():
    """40 batches an epoch: the metrics stay on the device until the epoch ends."""
    one, three = _fit_transfers(1, 0), _fit_transfers(3, 0)
    assert three - one == 2                                  # one device -> host copy per epoch
    assert _fit_transfers(3, 2) - _fit_transfers(1, 2) == 2  # also with one line per epoch



def test_the_progress_bar_reads_loss_and_accuracy_in_one_copy(monkeypatch):
    """120 batches an epoch, the bar shown: one read every 50 batches and at the last
    batch (loss and accuracy together), and the epoch's final read: 4 per epoch."""
    from minicnn.model import loops
    monkeypatch.setattr(loops, "is_terminal", lambda: True)     # show the bar under pytest
    n = 120 * 16
    assert _fit_transfers(2, 1, n) - _fit_transfers(1, 1, n) == 4


def test_device_arrays_are_accepted_where_a_user_may_pass_them():
    """set_weights, to_categorical and gradcheck_loss take host or device arrays."""
    from minicnn.gradcheck import gradcheck_loss
    from minicnn.utils import to_categorical
    with strict_xp.installed():
        minicnn.seed(0)
        model = Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1)), layers.Flatten(), layers.Dense(3)])
        model.build()
        host = model.get_weights()
        model.set_weights([backend.to_device(w + 1.0) for w in host])
        for now, then in zip(model.get_weights(), host):
            np.testing.assert_array_equal(now, then + np.float32(1.0))
        np.testing.assert_array_equal(to_categorical(backend.to_device(np.array([2, 0])), 3),
                                      [[0, 0, 1], [1, 0, 0]])
        logits = np.random.default_rng(0).standard_normal((4, 3))
        errors = gradcheck_loss(SoftmaxCrossEntropy(), logits, np.array([0, 2, 1, 1]))
        assert errors["logits"] < 1e-6


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_loss_read_at_epoch_end_still_stops_training(capsys):
    from minicnn import callbacks
    rng = np.random.default_rng(2)
    x = rng.random((64, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    with strict_xp.installed():
        minicnn.seed(0)
        model = Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                            layers.Conv2D(3, 6), layers.Flatten(), layers.Activation("softmax")])
        model.compile("categorical_crossentropy", "sgd")
        explode = callbacks.LearningRateScheduler(lambda epoch: 0.01 if epoch == 0 else 1e30)
        history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[explode])
    err = capsys.readouterr().err
    assert "NaN or inf at epoch 2 (found at the end of the epoch)" in err, err
    assert history.epoch == [0]


def _cupy_or_skip():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
        return cupy
    except Exception as err:  # no cupy, no driver or no GPU
        pytest.skip(f"no CUDA GPU with CuPy here ({type(err).__name__})")


@pytest.mark.gpu
@pytest.mark.parametrize("make,shape", LAYERS)
def test_every_layer_on_real_cupy_matches_numpy(make, shape):
    cupy = _cupy_or_skip()
    compare(make, shape, True, cupy, "cupy", rtol=1e-5)


@pytest.mark.gpu
def test_dropout_on_real_cupy_keeps_a_fraction_and_scales_it():
    """CuPy's masks come from other random bits than NumPy's: check what a mask must be."""
    cupy = _cupy_or_skip()
    with _installed(cupy, "cupy"):
        minicnn.seed(0)
        layer = layers.Dropout(0.25)
        x = np.random.default_rng(1).uniform(1, 2, (64, 10, 10, 8)).astype(np.float32)
        y = backend.to_host(layer.forward(backend.to_device(x), training=True))
        dx = backend.to_host(layer.backward(backend.to_device(np.ones_like(x))))
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], x[kept] / np.float32(0.75), rtol=1e-6)
    np.testing.assert_allclose(dx, kept / np.float32(0.75), rtol=1e-6)


@pytest.mark.parametrize("m", [1, 6, 73728, 1023, 4096 + 8])
def test_gpu_column_sums_in_pieces_add_up_to_the_column_sums(m):
    """kernels.column_sum cuts the rows into pieces; any array module can check the maths."""
    from minicnn.fast import kernels
    x = np.random.default_rng(m).standard_normal((m, 3))
    assert kernels._pieces(x).shape[0] == np.gcd(m, 1024)
    np.testing.assert_allclose(kernels.column_sum(x), x.sum(axis=0), rtol=1e-12, atol=1e-12)


def test_unknown_backend_leaves_current_one():
    backend.set_backend("numpy")
    with pytest.raises(ValueError, match="Unknown backend 'torch'"):
        minicnn.set_backend("torch")
    assert minicnn.get_backend() == "numpy"


def test_cupy_request_without_gpu_explains_the_fix():
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is importable here; the missing-CuPy message cannot be provoked")
    except ImportError:
        pass
    with pytest.raises(RuntimeError, match=r"cuda12"):
        minicnn.set_backend("cupy")
    assert minicnn.get_backend() == "numpy"


def test_floatx_and_seed():
    assert minicnn.floatx() == "float32"
    with pytest.raises(ValueError):
        minicnn.set_floatx("float16")
    assert minicnn.floatx() == "float32"
    with pytest.raises(ValueError, match=r"seed: n must be >= 0, got -1"):
        minicnn.seed(-1)
    for bad in ("3", 2.5, True):          # int() would take the first two: refused, not rounded
        with pytest.raises(TypeError, match=r"seed: n must be an int, got \w+ " + re.escape(repr(bad))):
            minicnn.seed(bad)
    minicnn.seed(np.int64(3))             # NumPy integers are ints
    minicnn.seed(3)
    a = layers.Conv2D(4, 3)
    a.build((5, 5, 2))
    minicnn.seed(3)
    b = layers.Conv2D(4, 3)
    b.build((5, 5, 2))
    np.testing.assert_array_equal(a.params["kernel"], b.params["kernel"])
    assert a.params["kernel"].dtype == np.float32


def test_stand_in_catches_a_numpy_call_planted_in_the_library(monkeypatch):
    """Swap BatchNormalization's channel sums for a version that calls numpy directly:
    fine on the numpy backend, a TypeError on the CuPy-like stand-in."""
    from minicnn.fast import channels

    def planted_channel_sum(x2):
        return np.ones(x2.shape[0], dtype=x2.dtype) @ x2   # the bug: np, not backend.xp()

    monkeypatch.setattr(channels, "channel_sum", planted_channel_sum)
    x = np.random.default_rng(0).standard_normal((4, 3, 3, 2)).astype(np.float32)
    layers.BatchNormalization().forward(x, training=True)            # numpy: passes silently
    with strict_xp.installed():
        with pytest.raises(TypeError, match="numpy"):
            layers.BatchNormalization().forward(backend.to_device(x), training=True)

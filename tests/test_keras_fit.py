"""fit, evaluate and predict with Keras 2.2's arguments: class_weight, sample_weight,
initial_epoch, nb_epoch, steps_per_epoch; the generator forms (fit_generator,
evaluate_generator, predict_generator, and fit/evaluate/predict given a generator);
what verbose prints, in a terminal, a pipe or a notebook; weights over a process team."""
import sys
import types

import numpy as np
import pytest

import minicnn
from minicnn import backend
from minicnn.fast import team
from minicnn.layers import Activation, Dense, Flatten
from minicnn.model import loops
from minicnn.models import Sequential
from minicnn.optimizers import SGD


def data(n=48, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 4, 4, 1)).astype("float32"), rng.integers(0, classes, n)


def model(seed=1, metrics=("accuracy",), lr=0.1):
    minicnn.seed(seed)
    m = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(3), Activation("softmax")])
    m.compile(loss="categorical_crossentropy", optimizer=SGD(lr=lr), metrics=list(metrics))
    return m


def same_weights(a, b, **tolerance):
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, **tolerance)


def per_sample_losses(m, x, y):
    p = m.predict(x).astype(np.float64)
    return -np.log(p[np.arange(len(y)), y])


# ---- weights -------------------------------------------------------------------------
def test_sample_weight_gives_keras_weighted_mean():
    """A batch's loss is sum(w l) / #{w != 0} (Keras 2.2's weighted_masked_objective)."""
    x, y = data(10)
    m = model()
    w = np.array([1, 0, 2, 0.5, 0, 3, 1, 1, 0, 2], dtype="float32")
    expected = (w * per_sample_losses(m, x, y)).sum() / (w != 0).sum()
    assert m.evaluate(x, y, batch_size=10, sample_weight=w, verbose=0)[0] == pytest.approx(
        expected, rel=1e-5)
    assert m.train_on_batch(x, y, sample_weight=w)[0] == pytest.approx(expected, rel=1e-5)


def test_zero_weights_mean_the_samples_do_not_count():
    """Training on all samples with weight 0 on some equals training on the others alone
    (one batch, plain SGD: the gradient is the same mean)."""
    x, y = data(12)
    keep = np.arange(12) % 3 != 0
    weighted, alone = model(), model()
    weighted.fit(x, y, batch_size=12, epochs=3, verbose=0, sample_weight=keep.astype("float32"))
    alone.fit(x[keep], y[keep], batch_size=12, epochs=3, verbose=0)
    same_weights(weighted, alone, rtol=1e-5, atol=1e-7)


def test_class_weight_equals_the_sample_weights_it_stands_for():
    x, y = data(30)
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    by_class, by_sample = model(), model()
    h1 = by_class.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                      class_weight=class_weight)
    h2 = by_sample.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                       sample_weight=np.array([class_weight[c] for c in y]))
    assert h1.history == h2.history
    same_weights(by_class, by_sample, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"class_weight has no weight for the classes \[2\]"):
        model().fit(x, y, verbose=0, class_weight={0: 1.0, 1: 2.0})
    with pytest.warns(UserWarning, match="class_weight is ignored"):
        model().fit(x, y, verbose=0, class_weight=class_weight, sample_weight=np.ones(30))


def test_bad_sample_weights_are_refused_before_training():
    x, y = data(8)
    m = model()
    for bad, message in [(np.ones(7), r"shape \(8,\)"), (-np.ones(8), "finite numbers >= 0"),
                         (np.full(8, np.nan), "finite numbers >= 0")]:
        with pytest.raises(ValueError, match=message):
            m.fit(x, y, verbose=0, sample_weight=bad)
    assert m.optimizer.iterations == 0


def test_weights_over_a_process_team_equal_one_process(monkeypatch):
    if not team._can_fork():
        pytest.skip("worker processes need os.fork")
    backend.set_floatx("float64")
    rng = np.random.default_rng(3)
    x, y = rng.random((300, 4, 4, 1)), rng.integers(0, 3, 300)
    w = rng.random(300) * (rng.random(300) > 0.2)
    before = team._processes
    results = []
    try:
        for processes in (1, 2):
            team.set_processes(processes)
            m = model(metrics=["accuracy", "top_k_categorical_accuracy"])
            history = m.fit(x, y, batch_size=40, epochs=2, verbose=0, sample_weight=w,
                            validation_data=(x, y, w))
            results.append((history.history, m.get_weights()))
    finally:
        team._processes = before
    (h1, w1), (h2, w2) = results
    for key in h1:
        np.testing.assert_allclose(h2[key], h1[key], rtol=1e-12)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ---- epochs ----------------------------------------------------------------------------
def test_initial_epoch_counts_from_where_training_stopped(capsys):
    x, y = data()
    m = model()
    history = m.fit(x, y, epochs=4, initial_epoch=2, verbose=2)
    assert history.epoch == [2, 3] and len(history.history["loss"]) == 2
    out = capsys.readouterr().out
    assert "Epoch 3/4" in out and "Epoch 4/4" in out and "Epoch 1/4" not in out
    with pytest.raises(ValueError, match="initial_epoch must be an int >= 0"):
        m.fit(x, y, initial_epoch=-1, verbose=0)


def test_nb_epoch_is_keras_1s_epochs_with_a_warning():
    x, y = data()
    m = model()
    with pytest.warns(UserWarning, match="nb_epoch.*epochs=3"):
        history = m.fit(x, y, nb_epoch=3, verbose=0)
    assert history.epoch == [0, 1, 2]
    with pytest.raises(TypeError, match=r"unrecognized keyword arguments \['nb_epochs'\]"):
        m.fit(x, y, nb_epochs=3, verbose=0)


def test_steps_per_epoch_with_arrays_trains_on_all_of_them_each_step():
    """Keras 2.2: with arrays, each of the steps_per_epoch steps sees every sample."""
    x, y = data(20)
    stepped, full = model(), model()
    h1 = stepped.fit(x, y, steps_per_epoch=3, epochs=1, verbose=0)
    full.fit(x, y, batch_size=20, epochs=3, verbose=0, shuffle=False)
    assert stepped.optimizer.iterations == 3 and len(h1.history["loss"]) == 1
    same_weights(stepped, full, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="batch_size must be None"):
        stepped.fit(x, y, steps_per_epoch=3, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="validation_steps"):
        stepped.fit(x, y, steps_per_epoch=3, verbose=0, validation_data=(x, y))


# ---- generators ------------------------------------------------------------------------
def batches_forever(x, y, batch_size, weights=None):
    while True:
        for i in range(0, len(x), batch_size):
            batch = (x[i:i + batch_size], y[i:i + batch_size])
            yield batch if weights is None else batch + (weights[i:i + batch_size],)


class Batches:
    """A Keras Sequence-like object: len() batches, each by index."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_fit_generator_equals_fit_on_the_same_batches():
    x, y = data(40)
    xv, yv = data(12, seed=5)
    w = np.random.default_rng(2).random(40)
    arrays, generated, sequence, through_fit = model(), model(), model(), model()
    h_arrays = arrays.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False,
                          validation_data=(xv, yv), sample_weight=w)
    h_generated = generated.fit_generator(batches_forever(x, y, 8, w), steps_per_epoch=5, epochs=3,
                                          verbose=0, validation_data=batches_forever(xv, yv, 5),
                                          validation_steps=3, workers=4, use_multiprocessing=True,
                                          max_queue_size=3)
    for key in h_arrays.history:
        np.testing.assert_allclose(h_generated.history[key], h_arrays.history[key], rtol=1e-5)
    same_weights(generated, arrays, rtol=1e-5, atol=1e-7)
    unweighted = model()
    unweighted.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    batches = Batches(x, y, 8)
    sequence.fit_generator(batches, epochs=2, verbose=0, shuffle=False)   # len() steps an epoch
    assert batches.epochs_ended == 2
    same_weights(sequence, unweighted, rtol=1e-5, atol=1e-7)
    through_fit.fit(batches_forever(x, y, 8), steps_per_epoch=5, epochs=2, verbose=0)
    same_weights(through_fit, unweighted, rtol=1e-5, atol=1e-7)


def test_evaluate_and_predict_generators_equal_the_array_forms():
    x, y = data(30)
    m = model(metrics=["accuracy", "mae"])
    expected = m.evaluate(x, y, batch_size=7, verbose=0)
    np.testing.assert_allclose(m.evaluate_generator(batches_forever(x, y, 7), steps=5), expected,
                               rtol=1e-6)
    np.testing.assert_allclose(m.evaluate(Batches(x, y, 7), verbose=0), expected, rtol=1e-6)
    probabilities = m.predict(x)
    np.testing.assert_allclose(m.predict_generator(Batches(x, y, 7)), probabilities, rtol=1e-6)
    inputs_only = (x[i:i + 4] for i in range(0, 30, 4))
    np.testing.assert_allclose(m.predict(inputs_only, steps=8), probabilities, rtol=1e-6)


def test_generator_problems_are_explained():
    x, y = data(16)
    m = model()
    with pytest.raises(ValueError, match="steps_per_epoch is needed with a generator"):
        m.fit_generator(batches_forever(x, y, 8), epochs=1, verbose=0)
    short = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 16, 8))
    with pytest.raises(ValueError, match=r"stopped after 2 batches.*steps_per_epoch=3.*loop forever"):
        m.fit_generator(short, steps_per_epoch=3, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"must be \(x, y\) or \(x, y, sample_weight\); got ndarray"):
        m.fit_generator((x[i:i + 8] for i in range(0, 16, 8)), steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="labels must be in"):
        m.fit_generator(batches_forever(x, y + 5, 8), steps_per_epoch=2, verbose=0)


# ---- what verbose shows -----------------------------------------------------------------
def test_fit_announces_its_samples_and_evaluate_prints_by_default(capsys):
    x, y = data(40)
    m = model()
    m.fit(x, y, epochs=1, verbose=2, validation_split=0.25)
    assert "Train on 30 samples, validate on 10 samples" in capsys.readouterr().out
    m.evaluate(x, y)                                           # Keras' verbose=1
    out = capsys.readouterr().out
    assert out.startswith("40/40 - loss: ") and "acc: " in out


def test_the_progress_bar_follows_the_output(monkeypatch):
    monkeypatch.setattr(loops, "is_terminal", lambda: False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert loops.progress_mode(1) == 2                  # a file or a pipe: a line per epoch
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert loops.in_notebook() and loops.progress_mode(1) == 1     # Jupyter, Colab: the bar
    fake_ipython.get_ipython = lambda: types.SimpleNamespace()     # a terminal IPython
    assert not loops.in_notebook()
    monkeypatch.setattr(loops, "is_terminal", lambda: True)
    assert loops.progress_mode(1) == 1 and loops.progress_mode(2) == 2


def test_a_notebook_gets_tqdm_auto(monkeypatch):
    pytest.importorskip("tqdm")
    made = []
    import tqdm.auto

    class Recording:
        def __init__(self, **kwargs):
            made.append(kwargs)

        def update(self, n):
            pass

        def set_postfix_str(self, *args, **kwargs):
            pass

        def close(self):
            pass
    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    monkeypatch.setattr(loops, "in_notebook", lambda: True)
    x, y = data(16)
    model().fit(x, y, batch_size=8, epochs=2, verbose=1)
    assert len(made) == 2 and made[0]["total"] == 2               # one widget per epoch


# ---- the CuPy code path (tests/strict_xp.py: no hidden host copies) ----------------------
def test_weighted_fit_with_metrics_and_generators_on_the_device_path_equals_numpy(strict_backend):
    """Metric sums add up on the device: nothing is read per batch (a hidden read raises)."""
    x, y = data(40)
    w = np.random.default_rng(4).random(40).astype("float32")
    runs = []
    for device in (False, True):
        if device:
            backend.use_array_module(strict_backend, "strict")
        else:
            backend.set_backend("numpy")
        m = model(metrics=["accuracy", "top_k_categorical_accuracy", "mse"])
        history = m.fit(x, y, batch_size=8, epochs=2, verbose=0, sample_weight=w,
                        validation_data=(x, y, w), class_weight=None)
        generated = m.fit_generator(batches_forever(x, y, 8), steps_per_epoch=5, verbose=0,
                                    validation_data=Batches(x, y, 16))
        runs.append((history.history, generated.history, m.evaluate(x, y, sample_weight=w, verbose=0),
                     m.train_on_batch(x[:8], y[:8], sample_weight=w[:8]), m.predict(x)))
    for on_device, on_host in zip(*reversed(runs)):
        if isinstance(on_host, dict):
            for key in on_host:
                np.testing.assert_allclose(on_device[key], on_host[key], rtol=1e-5)
        else:
            np.testing.assert_allclose(on_device, on_host, rtol=1e-5)

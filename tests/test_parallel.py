"""Batches split over worker processes (minicnn/parallel.py) give one process's results.

float64 and SGD, so that only the maths is compared: the ranks' sums equal the
whole sums to rounding (about 1e-15 here). Also: a failing or vanishing worker
stops fit with a clear error instead of a hang, and no worker outlives a call.
"""
import multiprocessing
import os
import subprocess
import sys
import time
import types

import numpy as np
import pytest

import minicnn
from minicnn import backend, layers
from minicnn.fast import split, team, threads
from minicnn.models import Sequential, textbook_copy
from minicnn.nn.base import Layer

pytestmark = pytest.mark.skipif(not team._can_fork(), reason="worker processes need os.fork")


@pytest.fixture
def processes():
    """set_processes(n) for the test; the default comes back afterwards."""
    before = team._processes
    yield team.set_processes
    team._processes = before


def small_model(extra=()):
    return Sequential([
        layers.Conv2D(6, 3, activation="relu", input_shape=(12, 12, 1)),
        layers.BatchNormalization(), layers.Dropout(0.25),
        layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.BatchNormalization(), *extra, layers.Flatten(), layers.Dense(10),
        layers.Activation("softmax")])


def data(n=300, floatx="float64"):
    rng = np.random.default_rng(7)
    return rng.random((n, 12, 12, 1)).astype(floatx), rng.integers(0, 10, n)


def train(n_processes, processes, floatx="float64", epochs=2):
    if n_processes is None:
        team._processes = None                                # the default: not chosen
    else:
        processes(n_processes)
    backend.set_floatx(floatx)
    minicnn.seed(11)
    model = small_model()
    model.compile("categorical_crossentropy", minicnn.optimizers.SGD(lr=0.05), metrics=["accuracy"])
    x, y = data(floatx=floatx)
    history = model.fit(x, y, batch_size=40, epochs=epochs, verbose=0, validation_data=(x, y))
    return history.history, model.get_weights(), model.predict(x, batch_size=64)


def test_fit_over_two_or_three_processes_equals_one(processes):
    """Weights, batch-norm statistics, losses and predictions: the same maths.
    (300 images in batches of 40: the last batch of 20 is split too; dropout's masks
    are the whole batch's, whatever the split.)"""
    one = train(1, processes)
    for n in (2, 3):
        other = train(n, processes)
        for key in ("loss", "acc", "val_loss", "val_acc"):
            np.testing.assert_allclose(other[0][key], one[0][key], rtol=1e-12)
        for a, b in zip(other[1], one[1]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(other[2], one[2], rtol=1e-10, atol=1e-12)


def test_float32_fit_over_processes_is_close_and_repeatable(processes):
    a, b = train(2, processes, "float32", epochs=1), train(2, processes, "float32", epochs=1)
    assert a[0]["loss"] == b[0]["loss"]
    assert all((u == v).all() for u, v in zip(a[1], b[1]))
    one = train(1, processes, "float32", epochs=1)
    np.testing.assert_allclose(a[0]["loss"], one[0]["loss"], rtol=1e-5)


def test_evaluate_and_predict_split_equal_one_process(processes):
    backend.set_floatx("float64")
    minicnn.seed(2)
    model = small_model()
    model.compile("categorical_crossentropy", "sgd", metrics=["accuracy"])
    x, y = data(600)
    processes(1)
    loss1, acc1 = model.evaluate(x, y, batch_size=50)
    p1 = model.predict(x, batch_size=64)
    processes(2)
    loss2, acc2 = model.evaluate(x, y, batch_size=50)
    p2 = model.predict(x, batch_size=64)
    assert acc1 == acc2 and abs(loss1 - loss2) < 1e-12
    np.testing.assert_allclose(p2, p1, rtol=1e-12, atol=1e-14)
    assert multiprocessing.active_children() == []          # no worker outlives the call


class _Trap(Layer):
    """Identity, except in a worker process (rank != 0), where it does ``what``."""

    def __init__(self, what, **kwargs):
        super().__init__(**kwargs)
        self.what = what

    def forward(self, x, training=False):
        self._check_input(x)
        self._out_shape = tuple(x.shape)
        if training and not split.leads():
            if self.what == "raise":
                raise RuntimeError("a planted failure in a worker")
            os._exit(3)                                       # the worker vanishes
        return x

    def backward(self, grad_out):
        return grad_out


@pytest.mark.parametrize("what, message", [("raise", "a planted failure in a worker"),
                                           ("exit", "exited unexpectedly")])
def test_a_failing_worker_stops_fit_with_its_error(processes, what, message):
    processes(2)
    minicnn.seed(1)
    model = small_model(extra=[_Trap(what)])
    model.compile("categorical_crossentropy", "sgd")
    x, y = data(300, "float32")
    model.build()
    before = [np.array(layer.params[key]) for layer, key in model.runner.slots]
    with pytest.raises(team.TeamError, match=message):
        model.fit(x, y, batch_size=40, epochs=1, verbose=0)
    assert multiprocessing.active_children() == []
    after = [layer.params[key] for layer, key in model.runner.slots]
    for a, b in zip(after, before):                   # the failed first step changed no weight
        np.testing.assert_array_equal(a, b)


def test_a_failure_in_the_calling_process_releases_the_workers(processes):
    processes(2)

    class FailsOnRankZero(_Trap):
        def forward(self, x, training=False):
            if training and split.leads() and x.shape[0] < 40:   # a split batch, rank 0's half
                raise RuntimeError("a planted failure on rank 0")
            return x

    model = small_model(extra=[FailsOnRankZero("raise")])
    model.compile("categorical_crossentropy", "sgd")
    x, y = data(300, "float32")
    with pytest.raises(RuntimeError, match="planted failure on rank 0"):
        model.fit(x, y, batch_size=40, epochs=1, verbose=0)
    assert multiprocessing.active_children() == []


def test_set_processes_rejects_bad_counts():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_processes"):
            team.set_processes(bad)


def test_small_calls_and_textbook_batch_layers_stay_in_one_process(processes):
    processes(2)
    model = small_model()
    model.compile("categorical_crossentropy", "sgd")
    with team.team_for(model.runner, 40, 100) as workers:    # too few images to be worth it
        assert workers is None
    with team.team_for(model.runner, 40, 1000) as workers:
        assert workers is not None
    textbook = textbook_copy(model)                          # its batch norm needs the whole batch
    textbook.compile("categorical_crossentropy", "sgd")
    assert any(layer.needs_whole_batch for layer in textbook.layers)
    with team.team_for(textbook.runner, 40, 1000) as workers:
        assert workers is None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverged_epoch_over_processes_is_undone(processes, capsys):
    """The weights live in memory shared with the workers: putting back the epoch's
    starting weights (a non-finite loss in epoch 2) writes into those same arrays."""
    processes(2)
    minicnn.seed(12)
    model = small_model()
    model.compile("categorical_crossentropy", minicnn.optimizers.SGD(lr=0.05))
    x, y = data()
    saved = {}

    class Explode(minicnn.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                saved["weights"] = model.get_weights()
                model.optimizer.lr = 1e30
    history = model.fit(x, y, batch_size=40, epochs=3, verbose=0, callbacks=[Explode()])
    assert "NaN or inf at epoch 2" in capsys.readouterr().err
    assert history.epoch == [0]
    for now, before in zip(model.get_weights(), saved["weights"]):
        np.testing.assert_array_equal(now, before)
    assert np.isfinite(model.predict(x[:64])).all()


def test_predict_and_evaluate_in_a_callback_leave_a_parallel_fit_alone(processes):
    """A call made during fit (here from on_epoch_end) runs in the calling process, on the
    same weights, instead of a second team that would give the weights new arrays
    behind the first team's workers."""
    x, y = data()

    class Peek(minicnn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.predict(x[:280], batch_size=40)
            self.model.evaluate(x, y, batch_size=40)

    def run(n_processes, callbacks):
        processes(n_processes)
        backend.set_floatx("float64")
        minicnn.seed(11)
        model = small_model()
        model.compile("categorical_crossentropy", minicnn.optimizers.SGD(lr=0.05))
        history = model.fit(x, y, batch_size=40, epochs=3, verbose=0, callbacks=callbacks)
        return history.history["loss"], model.get_weights()

    try:
        alone, alone_w = run(1, [])
        split, split_w = run(2, [Peek()])
    finally:
        backend.set_floatx("float32")
    np.testing.assert_allclose(split, alone, rtol=1e-12)
    for a, b in zip(split_w, alone_w):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert multiprocessing.active_children() == []


def test_weights_keep_their_arrays_from_one_parallel_call_to_the_next(processes):
    processes(2)
    model = small_model()
    model.compile("categorical_crossentropy", "sgd")
    x, _ = data(300, "float32")
    model.predict(x, batch_size=40)                          # moves the weights to shared memory
    kernel = model.layers[0].params["kernel"]
    model.predict(x, batch_size=40)
    assert model.layers[0].params["kernel"] is kernel


def test_team_buffers_are_as_large_as_a_batch_can_be(processes):
    """predict with a batch size far above the data: buffers for 300 images, not 10**8."""
    processes(2)
    model = small_model()
    model.compile("categorical_crossentropy", "sgd")
    x, _ = data(300, "float32")
    np.testing.assert_allclose(model.predict(x, batch_size=10**8), model.predict(x, batch_size=300),
                               rtol=1e-6, atol=1e-7)


def test_an_interrupted_close_still_gives_the_threads_back(processes, monkeypatch):
    processes(2)
    model = small_model()
    model.compile("categorical_crossentropy", "sgd")
    before, blas_before = threads.chosen_threads(), threads._blas._before
    workers = team.Team(model.runner, 2, 40)
    assert threads.chosen_threads() == 1

    def interrupted_join(self, timeout=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "join", interrupted_join)
    with pytest.raises(KeyboardInterrupt):
        workers.close()
    monkeypatch.undo()
    assert threads.chosen_threads() == before and threads._blas._before == blas_before
    assert not model.runner.busy
    for child in multiprocessing.active_children():          # its pipe closed: it stops
        child.join(timeout=5)
    assert multiprocessing.active_children() == []


def _state(pid):
    """A process's state letter from /proc ('Z': exited, not yet reaped), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_a_waiting_worker_stops_when_its_rank_0_is_killed(processes):
    """rank 0 killed (SIGKILL: no clean-up at all) while its worker waits for a command."""
    import signal
    import time
    processes(2)
    read_end, write_end = os.pipe()
    rank0 = os.fork()
    if rank0 == 0:                                            # the child plays rank 0
        try:
            os.close(read_end)
            model = small_model()
            model.build()
            workers = team.Team(model.runner, 2, 40)
            os.write(write_end, str(workers._workers[0].pid).encode())
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(write_end)
    worker = int(os.read(read_end, 32))
    os.close(read_end)
    os.kill(rank0, signal.SIGKILL)
    os.waitpid(rank0, 0)
    deadline = time.monotonic() + 10
    while _state(worker) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    stuck = _state(worker) not in (None, "Z")
    if stuck:
        os.kill(worker, signal.SIGKILL)      # it holds pytest's output open: never leave it
    assert not stuck, f"worker {worker} was still waiting 10 s after rank 0 died"


def test_a_busy_machine_runs_default_teams_in_rank_0_and_chosen_teams_without_spinning(
        processes, monkeypatch):
    """Other programs leave one core of two free: a team whose size was not chosen runs
    every step in rank 0 alone (one process's numbers, bit for bit); set_processes(2)
    still splits every step, its waits sleeping at once. Two free cores: split, spinning."""
    sent = []                                   # (command, did its waits spin?) rank 0 sends
    real_send = team.Team._send

    def recording_send(self, command, rows):
        sent.append((command[0], int(self.spinning[0])))
        return real_send(self, command, rows)
    monkeypatch.setattr(team.Team, "_send", recording_send)
    monkeypatch.setattr(threads, "available_cores", lambda: 2)        # the default: 2 processes
    monkeypatch.setattr(team._Load, "free_cores", lambda self: 1.0)
    before = threads.chosen_threads()
    threads.set_threads(1)                      # as in a team's processes
    try:
        one = train(1, processes)
    finally:
        threads.restore_threads(before)
    busy = train(None, processes)
    assert sent == []
    assert busy[0] == one[0]
    assert all((a == b).all() for a, b in zip(busy[1], one[1])) and (busy[2] == one[2]).all()
    chosen = train(2, processes)
    assert ("train", 0) in sent and ("infer", 0) in sent and ("train", 1) not in sent
    np.testing.assert_allclose(chosen[0]["loss"], one[0]["loss"], rtol=1e-12)
    sent.clear()
    monkeypatch.setattr(team._Load, "free_cores", lambda self: 2.0)
    train(None, processes)
    assert ("train", 1) in sent and ("infer", 1) in sent and ("train", 0) not in sent


def test_the_load_is_the_cores_busy_time_less_the_teams_own(monkeypatch):
    """free cores = cores - (busy ticks - the team's ticks) / all ticks * cores, per reading."""
    readings = iter([(1000, 4000, {7: 300}),             # at the team's start: rank 0 only
                     (1040, 4040, {7: 320, 8: 20}),       # 2 cores busy, all of it the team's
                     (1080, 4080, {7: 340, 8: 20}),       # 2 busy, rank 0 alone: another program
                     (1090, 4120, {7: 350, 8: 20})])      # a quarter busy, the team's
    monkeypatch.setattr(team, "LOAD_EVERY", 0.0)
    monkeypatch.setattr(team._Load, "_read", lambda self: next(readings))
    monkeypatch.setattr(team._Load, "guess", lambda self: setattr(self, "free", 0.5))
    load = team._Load(None)
    load.cpus = {b"cpu0", b"cpu1"}
    assert load.free == 0.5                              # the guess, until the first reading
    assert [load.free_cores() for _ in range(3)] == [2.0, 1.0, 2.0]


def test_the_load_sees_a_busy_loop_in_another_process():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)                                  # past its start-up
        load = team._Load(types.SimpleNamespace(_workers=[]))   # a team of this process alone
        time.sleep(3 * team.LOAD_EVERY)
        free = load.free_cores()
    finally:
        hog.kill()
        hog.wait()
    assert free <= len(os.sched_getaffinity(0)) - 0.5, free

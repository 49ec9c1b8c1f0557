"""A process team (minicnn/fast/team.py) under faults: a worker stopped (SIGSTOP) or stuck,
Ctrl-C while one is stopped, rank 0 killed in the middle of a step.

Each fault must end in a clear TeamError or a clean KeyboardInterrupt within
seconds, print no worker traceback, and leave no process behind. A watchdog
continues a stopped worker after a few seconds, so that a team that would
hang for ever fails the test instead.
"""
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

import minicnn
from minicnn.fast import split, team
from minicnn.nn.base import Layer
from tests.test_parallel import _state, data, small_model

pytestmark = pytest.mark.skipif(not team._can_fork(), reason="worker processes need os.fork")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def processes():
    """set_processes(n) for the test; the default comes back afterwards."""
    before = team._processes
    yield team.set_processes
    team._processes = before


class _Watchdog:
    """Sends SIGCONT to ``pid`` after ``seconds`` unless cancelled; ``fired`` says if it had to."""

    def __init__(self, pid, seconds):
        self.pid, self.fired = pid, False
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.start()

    def _fire(self):
        self.fired = True
        try:
            os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def cancel(self):
        self.timer.cancel()
        self.timer.join()                        # no thread of ours left when a team next forks


def _gone(pid, seconds=10.0):
    """Wait up to ``seconds`` for ``pid`` to exit (gone, or a zombie nobody reaped yet)."""
    deadline = time.monotonic() + seconds
    while _state(pid) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.02)
    return _state(pid) in (None, "Z")


def test_a_stopped_worker_ends_fit_with_an_error_naming_it(processes):
    processes(2)
    model = small_model()
    model.compile("categorical_crossentropy", "sgd")
    x, y = data(300, "float32")
    stopped = {}

    class StopTheWorker(minicnn.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 1 and not stopped:                  # between two split steps
                worker, = multiprocessing.active_children()
                os.kill(worker.pid, signal.SIGSTOP)
                stopped["pid"], stopped["watchdog"] = worker.pid, _Watchdog(worker.pid, 5)
    try:
        with pytest.raises(team.TeamError) as error:
            model.fit(x, y, batch_size=40, epochs=3, verbose=0, callbacks=[StopTheWorker()])
    finally:
        if "watchdog" in stopped:
            stopped["watchdog"].cancel()
    message = str(error.value)
    assert f"rank 1 (pid {stopped['pid']})" in message, message
    assert "stopped" in message and "a training step" in message, message
    assert not stopped["watchdog"].fired
    assert multiprocessing.active_children() == [] and _state(stopped["pid"]) is None


class _Sleeper(Layer):
    """Identity, except that a worker sleeps (blocked, no CPU time) in its second training step."""

    calls = 0

    def forward(self, x, training=False):
        self._check_input(x)
        self._out_shape = tuple(x.shape)
        if training and not split.leads():
            _Sleeper.calls += 1                  # the worker's own copy of the class
            if _Sleeper.calls == 2:
                time.sleep(6)
        return x

    def backward(self, grad_out):
        return grad_out


def test_a_stuck_worker_ends_fit_after_STUCK_seconds(processes, monkeypatch):
    monkeypatch.setattr(team, "STUCK", 1.0, raising=False)
    processes(2)
    model = small_model(extra=[_Sleeper()])
    model.compile("categorical_crossentropy", "sgd")
    x, y = data(300, "float32")
    with pytest.raises(team.TeamError, match=r"rank 1 \(pid \d+\) used no CPU time for \d+ s "
                                             r"during a training step"):
        model.fit(x, y, batch_size=40, epochs=1, verbose=0)
    assert multiprocessing.active_children() == []


def test_close_returns_with_a_stopped_worker(processes):
    processes(2)
    model = small_model()
    model.build()
    workers = team.Team(model.runner, 2, 40)
    pid = workers._workers[0].pid
    os.kill(pid, signal.SIGSTOP)
    watchdog = _Watchdog(pid, 5)
    try:
        workers.close()
    finally:
        watchdog.cancel()
    assert not watchdog.fired, "close waited for the stopped worker until it was continued"
    assert _state(pid) is None and multiprocessing.active_children() == []


# ---- faults seen from outside: a fit in a process of its own --------------------------------
_SCRIPT = r"""
import multiprocessing, os, signal, sys, time
import numpy as np
import minicnn
from minicnn import layers
from minicnn.fast import split, team
from minicnn.models import Sequential
from minicnn.nn.base import Layer

mode = sys.argv[1]


class Hold(Layer):
    # Identity; in mode "hold", rank 0 says "ready" in its third split step and sleeps
    # there, while its worker goes on to the batch norm's all-reduce and waits.
    calls = 0

    def forward(self, x, training=False):
        self._check_input(x)
        self._out_shape = tuple(x.shape)
        if mode == "hold" and training and split.leads() and x.shape[0] < 40:
            Hold.calls += 1
            if Hold.calls == 3:
                worker, = multiprocessing.active_children()
                print("ready", worker.pid, flush=True)
                time.sleep(30)
        return x

    def backward(self, grad_out):
        return grad_out


class StopTheWorker(minicnn.callbacks.Callback):
    # In mode "stop": SIGSTOP the worker between two steps, then say "ready".
    def on_batch_end(self, batch, logs=None):
        if mode == "stop" and batch == 1:
            worker, = multiprocessing.active_children()
            os.kill(worker.pid, signal.SIGSTOP)
            print("ready", worker.pid, flush=True)


team.set_processes(2)
model = Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)), Hold(),
                    layers.BatchNormalization(), layers.Flatten(), layers.Dense(10),
                    layers.Activation("softmax")])
model.compile("categorical_crossentropy", "sgd")
rng = np.random.default_rng(0)
x, y = rng.random((400, 12, 12, 1)).astype("float32"), rng.integers(0, 10, 400)
model.fit(x, y, batch_size=40, epochs=20, verbose=0, callbacks=[StopTheWorker()])
"""


@pytest.fixture
def fit_process():
    """start(mode): a fit in a session of its own (_SCRIPT), once it says "ready": (the
    process, its worker's pid). Whatever is left of the session is killed afterwards."""
    procs = []

    def start(mode):
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, mode], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        procs.append(proc)
        readable, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if readable else ""
        if not line.startswith("ready"):
            proc.kill()
            pytest.fail(f"the fit did not get ready: {line!r}\n{proc.communicate()[1]}")
        return proc, int(line.split()[1])
    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)     # rank 0 and its workers: one process group
        except ProcessLookupError:
            pass
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_with_a_stopped_worker_gives_one_clean_keyboard_interrupt(fit_process, presses):
    """Ctrl-C (SIGINT to rank 0, once, or twice in quick succession) while a worker is stopped:
    the fit returns within about a second, with one KeyboardInterrupt and no other noise."""
    proc, worker = fit_process("stop")
    time.sleep(0.15)                # rank 0 is now waiting for the stopped worker (for a second
    pressed = time.monotonic()      # more, before it would call it stopped)
    for press in range(presses):
        if press:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the fit was still running 10 s after Ctrl-C ({presses} press(es))")
    returned_after = time.monotonic() - pressed
    err = proc.stderr.read()
    assert returned_after < 3.0, f"{returned_after:.1f} s"
    assert err.count("Traceback") == 1 and err.rstrip().endswith("KeyboardInterrupt"), err
    assert "TeamError" not in err and "BrokenPipeError" not in err, err
    assert _gone(worker), f"worker {worker} outlived its fit"


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_killing_rank_0_in_a_step_leaves_no_worker_and_no_traceback(fit_process, how):
    proc, worker = fit_process("hold")           # the worker waits in a batch norm's all-reduce
    os.kill(proc.pid, how)
    proc.wait(timeout=10)
    assert _gone(worker), f"worker {worker} outlived rank 0"
    err = proc.stderr.read()                     # every process of the session writes here
    assert "Traceback" not in err, err


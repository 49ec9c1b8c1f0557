"""Data parallelism on the CPU: one process per core, each with a slice of every batch.

NumPy runs each operation on one core. To use P cores, a training step splits
its batch of N images between P processes, exactly as multi-GPU training
splits a batch between GPUs:

    rank r holds rows [N*r//P, N*(r+1)//P) of the batch and a copy of the model;
    forward and backward on its rows give its share of every gradient;
    the gradient is the sum of the shares (rank 0 adds them and steps the optimizer).

A few layers look across the batch, and ask split.py for help: batch norm
adds its per-channel sums over the ranks (a "synchronised" batch norm) and
only rank 0 updates the moving statistics; dropout draws its rows of the one
mask the whole batch would get; the loss is a mean over all N rows, so each
rank scales its gradient by n/N. The result equals one process computing the
whole batch, up to float rounding. A layer that looks across the batch
without asking (``needs_whole_batch``, the textbook's batch norm and dropout)
keeps the model in one process.

Separate processes, not threads: threads share Python's lock and meet at
every layer; processes run freely between the few points where they must
agree (the batch norms' sums, and the end of the step). Parameters and
batch-norm statistics live in memory shared by every process, so rank 0's
optimizer step is seen by all. Workers are forked (Linux only; elsewhere one
process does everything): they start as copies of the calling process, model
included. (Python 3.12+ warns that forking a process that has threads may
deadlock the child: before forking, the Team shuts minicnn's thread pool down
and holds OpenBLAS at one thread, so no thread of ours is inside a lock.)

A ``Team`` lives for one fit/evaluate/predict call and drives the model
through its runner (minicnn/model/runner.py: ``gradients``,
``apply_gradients``, ``inference_layers``, ...). ``set_processes(n)`` chooses
P (default: one per core, at most 8; 1 turns splitting off); that count is
this module's only state.
"""
import contextlib
import mmap
import multiprocessing
import os
import signal
import sys
import time
import traceback

import numpy as np

from .. import backend
from . import split, threads

# A rank needs at least this many images of a batch to be worth a process, and a
# call at least this many images in all to be worth starting the workers.
MIN_ROWS = 4
MIN_SAMPLES = 256
# Seconds between checks that the other processes are still alive while waiting.
POLL = 0.5
# Seconds a process keeps asking at a barrier, or for a step's command or reply,
# before it sleeps: waking a sleeping process takes tens of microseconds, and a
# step meets the others at its start, its end and three times per batch norm.
SPIN = 0.002

_processes = None     # None: not chosen yet, see get_processes()


def _can_fork():
    """Workers are forked copies of this process: Linux only (macOS's system libraries,
    its BLAS among them, are not safe to use in a forked child)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def set_processes(n):
    """Split training and inference batches over ``n`` processes (>= 1; 1: no split)."""
    global _processes
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_processes: n must be an int >= 1, got {n!r}.")
    if n > 1 and not _can_fork():
        raise RuntimeError("set_processes: more than one process needs forked workers, "
                           "which minicnn uses on Linux only; use set_processes(1) here.")
    _processes = n


def get_processes():
    """Processes a batch is split over: set_processes' value, else one per core (at most 8)."""
    if _processes is None:
        return min(threads.available_cores(), 8) if _can_fork() else 1
    return _processes


def team_for(runner, batch_size, n_samples, targets=None, largest=None):
    """A context holding a Team that splits each batch over the CPU cores, or
    None where one process is better: CuPy, one core, small batches or little
    data, or a layer that needs its whole batch (the textbook's batch norm and
    dropout). A call made while a team is at work (predict in a callback during
    fit) runs in this process: the team's workers are waiting for the next step.
    ``largest``: the most samples any batch is cut from (n_samples if None),
    which bounds the team's batch buffers."""
    size = get_processes()
    if (runner.busy or backend.get_backend() != "numpy" or size < 2
            or batch_size < MIN_ROWS * size or n_samples < MIN_SAMPLES
            or any(layer.needs_whole_batch for layer in runner.layers)):
        return contextlib.nullcontext()
    rows = min(batch_size, n_samples if largest is None else largest)
    return Team(runner, size, rows, targets)


# ---- shared memory -------------------------------------------------------------
def shared_empty(shape, dtype):
    """A numpy array in anonymous shared memory: processes forked later see one array."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    buf = mmap.mmap(-1, max(count * dtype.itemsize, 1))
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)


def _shared_copy(a):
    out = shared_empty(a.shape, a.dtype)
    out[...] = a
    return out


def _is_shared(a):
    """Does ``a`` already live in memory made by shared_empty (an anonymous mmap)?"""
    base = a
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)   # frombuffer's


class TeamError(RuntimeError):
    """A worker process failed or died; the step did not complete."""


class _Barrier:
    """Wait until all ``size`` processes have arrived: rank 0 counts the others in, then lets them go."""

    def __init__(self, ctx, size, alive, spin):
        self.size, self.alive, self.spin = size, alive, spin
        self.arrived = ctx.Semaphore(0)
        self.go = [ctx.Semaphore(0) for _ in range(size)]

    def wait(self, rank):
        if rank == 0:
            for _ in range(self.size - 1):
                self._acquire(self.arrived)
            for r in range(1, self.size):
                self.go[r].release()
        else:
            self.arrived.release()
            self._acquire(self.go[rank])

    def _acquire(self, sem):
        if _ask(lambda: sem.acquire(False), self.spin):
            return
        while not sem.acquire(timeout=POLL):
            if not self.alive():
                raise TeamError("another process of the team failed or exited")


class Team:
    """``size`` processes that share one model: this one (rank 0) and ``size - 1`` forked workers.

    runner: the model's runner (minicnn/model/runner.py); batch_size: the
    largest batch a step will get; targets: an array shaped like one batch's
    targets (its trailing shape and dtype are used).
    """

    def __init__(self, runner, size, batch_size, targets=None):
        if size < 2:
            raise ValueError("Team: size must be >= 2.")
        self.runner, self.size = runner, size
        self._share_weights(runner.layers)
        self._slots = list(runner.slots)
        widths = [int(layer.params[key].size) for layer, key in self._slots]
        self._offsets = np.concatenate([[0], np.cumsum(widths, dtype=np.int64)]).astype(int)
        floatx = backend.floatx()
        self.grads = shared_empty((size, int(self._offsets[-1])), floatx)
        self.scalars = shared_empty((size, 2), np.float64)      # loss sum, correct count
        reduce_len = max([2 * int(layer.params["gamma"].size) for layer in runner.layers
                          if "gamma" in layer.params] + [1])
        self.reduce = shared_empty((2, size, reduce_len), np.float64)   # two turns, see _allreduce
        self.failed = shared_empty((1,), np.int64)
        self.failed[0] = 0
        self.x = shared_empty((batch_size,) + tuple(runner.input_shape), floatx)
        self.out = shared_empty((batch_size,) + tuple(runner.output_shape), floatx)
        if targets is not None:
            self.t = shared_empty((batch_size,) + tuple(targets.shape[1:]), targets.dtype)
            self.lab = shared_empty((batch_size,), np.int64)
        ctx = multiprocessing.get_context("fork")
        self._is_worker, self._parent = False, os.getpid()
        self.spin = SPIN if size <= threads.available_cores() else 0.0    # never spin on a shared core
        self.barrier = _Barrier(ctx, size, self._alive, self.spin)
        self._generation = 0                # changes whenever inference layers must be refolded
        self._workers, self._conns = [], []
        self._threads_before = threads.chosen_threads()
        try:    # from here on, close() undoes whatever was done (Ctrl-C included)
            threads.set_threads(1)          # one core per process: no threads inside
            threads.pin_blas_to_one_thread()
            for rank in range(1, size):
                parent_end, child_end = ctx.Pipe()
                self._conns.append(parent_end)
                proc = ctx.Process(target=_worker_main, args=(self, rank, child_end),
                                   name=f"minicnn-rank{rank}", daemon=True)
                proc.start()
                child_end.close()
                self._workers.append(proc)
        except BaseException:
            self.close()
            raise
        runner.busy = True                  # calls made during this one stay in this process

    @staticmethod
    def _share_weights(layers):
        """Move every parameter and state array into shared memory (in place in the layers);
        arrays already there (from an earlier call) stay the same objects."""
        for layer in layers:
            for group in (layer.params, layer.state):
                for key, value in group.items():
                    if not _is_shared(value):
                        group[key] = _shared_copy(value)

    def _alive(self):
        if self.failed[0]:
            return False
        if self._is_worker:
            return os.getppid() == self._parent
        return all(p.is_alive() for p in self._workers)

    def _rows(self, n):
        return [slice(n * r // self.size, n * (r + 1) // self.size) for r in range(self.size)]

    # ---- one training step --------------------------------------------------
    def train_step(self, xb, tb, lb):
        """The runner's train_step over the team: (summed loss, correct count)."""
        runner, n = self.runner, xb.shape[0]
        if n < MIN_ROWS * self.size:                    # a small last batch: rank 0 alone
            return runner.train_step(xb, tb, lb)
        rows = self._rows(n)
        self.x[:n], self.t[:n], self.lab[:n] = xb, tb, lb
        rng_state = backend.rng().bit_generator.state  # every rank draws the same dropout mask
        self._send(("train", n, rng_state), rows)
        own = self._own_rows(n, rows[0], lambda: runner.gradients(
            xb[rows[0]], tb[rows[0]], lb[rows[0]], batch_total=n))
        self._gather()
        loss, correct = float(own[0]) + self.scalars[1:, 0].sum(), int(own[1]) + int(
            round(self.scalars[1:, 1].sum()))
        for i, (layer, key) in enumerate(self._slots):
            g = layer.grads[key]
            parts = self.grads[1:, self._offsets[i]:self._offsets[i + 1]]
            for r in range(self.size - 1):
                g += parts[r].reshape(g.shape)                # rank order: repeatable
        runner.apply_gradients()
        return np.asarray(loss, dtype=backend.floatx()), np.asarray(correct)

    def _worker_train(self, rank, n, rng_state, rows):
        backend.rng().bit_generator.state = rng_state
        loss, correct = self._run_rows(rank, n, rows, lambda: self.runner.gradients(
            self.x[rows], self.t[rows], self.lab[rows], batch_total=n))
        for i, (layer, key) in enumerate(self._slots):
            self.grads[rank, self._offsets[i]:self._offsets[i + 1]] = layer.grads[key].ravel()
        self.scalars[rank] = float(loss), float(correct)

    # ---- inference ---------------------------------------------------------
    def refold(self):
        """Inference layers must be rebuilt (the weights changed since the last call)."""
        self._generation += 1

    def infer(self, xb, which):
        """Outputs of ``which`` ("logits" or "outputs") layers on xb, inference mode."""
        n = xb.shape[0]
        if n < MIN_ROWS * self.size:                    # a small last batch: rank 0 alone
            return self._infer_rows(xb, which, self._generation)
        rows = self._rows(n)
        self.x[:n] = xb
        self._send(("infer", n, which, self._generation), rows)
        own = self._own_rows(n, rows[0], lambda: self._infer_rows(xb[rows[0]], which,
                                                                   self._generation))
        self.out[rows[0]] = own
        self._gather()
        return self.out[:n].copy()

    def _infer_rows(self, xb, which, generation):
        if getattr(self, "_folded_key", None) != (which, generation):
            self._folded = self.runner.inference_layers(which)
            self._folded_key = (which, generation)
        return self.runner.forward(xb, False, self._folded)

    # ---- plumbing ------------------------------------------------------------
    def _run_rows(self, rank, n, rows, fn):
        """fn() with this process holding ``rows`` of a batch of n (split.py)."""
        with split.holding(split.Part(self, rank, n, rows)):
            return fn()

    def _own_rows(self, n, rows, fn):
        """Rank 0's share of a step; if it fails, the workers are told to give up theirs."""
        try:
            return self._run_rows(0, n, rows, fn)
        except TeamError:                   # a worker failed: report what it said
            self._gather()
            raise
        except BaseException:
            self.failed[0] = 1
            raise

    def allreduce(self, part, vec):
        """split.allreduce inside a step: every rank's ``vec`` added, in rank order."""
        slots = self.reduce[part.reduces % 2]    # alternate buffers: no rank can lap another
        part.reduces += 1
        flat = vec.ravel()
        if flat.size > slots.shape[1]:
            raise ValueError(f"split.allreduce: {flat.size} numbers, but the team made room "
                             f"for {slots.shape[1]} (twice the widest batch norm).")
        slots[part.rank, :flat.size] = flat
        self.barrier.wait(part.rank)
        total = slots[0, :flat.size].copy()
        for r in range(1, self.size):
            total += slots[r, :flat.size]
        return np.asarray(total.reshape(vec.shape), dtype=vec.dtype)

    def _send(self, command, rows):
        for r, conn in enumerate(self._conns, start=1):
            conn.send(command + (rows[r],))

    def _gather(self):
        """Wait for every worker's reply; raise TeamError with the first worker's error."""
        errors = []
        for r, conn in enumerate(self._conns, start=1):
            try:
                status, detail = _receive(conn, self.spin, self._workers[r - 1].is_alive)
            except (EOFError, OSError):
                status, detail = "error", f"worker {r} exited unexpectedly"
            if status != "ok":
                errors.append(f"rank {r}: {detail}")
        if errors:
            self.failed[0] = 1
            raise TeamError("a worker process failed during the step:\n" + "\n".join(errors))

    def close(self):
        """Stop the workers and give this process its threads back (even if interrupted:
        a worker whose pipe closes stops by itself)."""
        try:
            if self._workers:
                self.failed[0] = 1          # a worker still inside a step gives it up
            for conn in self._conns:
                try:
                    conn.send(("stop",))
                except OSError:
                    pass
            for proc in self._workers:
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.terminate()
                    proc.join()
        finally:
            for conn in self._conns:
                conn.close()
            self._workers, self._conns = [], []
            self.runner.busy = False
            threads.restore_threads(self._threads_before)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _worker_main(team, rank, conn):
    """A worker's life: run commands from rank 0 until told to stop, or until rank 0
    is gone (its end of the pipe closed, or this process handed to another parent)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is rank 0's to handle
    team._is_worker, team._parent = True, os.getppid()
    for inherited in team._conns:   # rank 0's ends (this worker's own among them), copied by
        inherited.close()           # the fork: closed here, so rank 0 closing them ends us
    team._conns, team._workers = [], []
    while True:
        try:
            command = _receive(conn, team.spin, lambda: os.getppid() == team._parent)
        except (EOFError, OSError):
            return
        kind, rows = command[0], command[-1]
        if kind == "stop":
            return
        try:
            if kind == "train":
                team._worker_train(rank, command[1], command[2], rows)
            else:
                team.out[rows] = team._run_rows(rank, command[1], rows, lambda: team._infer_rows(
                    team.x[rows], command[2], command[3]))
            conn.send(("ok", None))
        except TeamError as err:
            conn.send(("error", str(err)))
        except BaseException:
            team.failed[0] = 1
            conn.send(("error", traceback.format_exc()))


def _receive(conn, spin, other_alive):
    """The next message on ``conn``, waited for as _ask waits; EOFError once the process
    at the other end is gone (``other_alive()``, asked every POLL seconds)."""
    _ask(lambda: conn.poll(0), spin)
    while not conn.poll(POLL):
        if not other_alive():
            raise EOFError
    return conn.recv()


def _ask(ready, spin):
    """Call ``ready()`` without sleeping until it is true, for up to ``spin`` seconds; its last answer.

    The other processes are usually microseconds away (a batch norm's sums, a
    step's command or its reply), and waking a sleeping process costs tens of
    microseconds or more; after ``spin`` the caller sleeps as usual.
    """
    spin_until = time.perf_counter() + spin
    while time.perf_counter() < spin_until:
        if ready():
            return True
    return False

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

The machine may be shared. Before each step rank 0 looks at how many cores
other programs leave free (``_Load``): the processes' waits spin only while
each process has a core of its own, and a team whose P was not chosen
(``set_processes`` never called) runs whole steps in rank 0 alone while
fewer than ``ALONE_BELOW`` cores are free, where splitting cannot pay. Such
runs round differently with the load; ``set_processes(n)`` keeps every step
split over n processes (only the waiting changes), for bit-identical runs.
A worker that exits, is stopped (SIGSTOP) or stops making progress ends the
call with a TeamError naming it; Ctrl-C and ``close`` never wait on one.
"""
import contextlib
import ctypes
import mmap
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback

import numpy as np

from .. import backend
from . import split, threads

# A rank needs at least this many images of a batch to be worth a process, and a
# call at least this many images in all to be worth starting the workers.
MIN_ROWS = 4
MIN_SAMPLES = 256
# Seconds between the checks a waiting process makes on the others (alive? running?).
POLL = 0.5
# Seconds a process keeps asking at a barrier, or for a step's command or reply,
# before it sleeps: waking a sleeping process takes tens of microseconds, and a
# step meets the others at its start, its end and three times per batch norm.
# Only while every process has a core free of other work (_Load): asking on a
# shared core takes it from the very process being waited for.
SPIN = 0.002
# Seconds between rank 0's readings of the machine's load (_Load); and the fewest
# free cores at which a team whose size was not chosen still splits its steps.
LOAD_EVERY = 0.1
ALONE_BELOW = 1.5
# Seconds of waiting in which no worker uses any CPU time (blocked for good: a
# deadlock, a hung disk) before rank 0 gives up on them; None: never.
STUCK = 120.0
# Seconds close() gives the workers to stop by themselves before it kills them.
CLOSE_WAIT = 0.5

_processes = None     # None: not chosen yet, see get_processes()
_DOING = {"train": "a training step", "infer": "an inference pass"}    # commands, for errors


def _can_fork():
    """Workers are forked copies of this process: Linux only (macOS's system libraries,
    its BLAS among them, are not safe to use in a forked child)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def set_processes(n):
    """Split training and inference batches over ``n`` processes (>= 1; 1: no split).

    A chosen count splits every step (big enough to split) whatever the machine's
    load, so a seed gives bit-identical runs; by default the team runs steps in
    one process while other programs keep the cores busy (see the module's notes)."""
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
    return Team(runner, size, rows, targets, adaptive=_processes is None)


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
    """A worker process failed, died, was stopped or got stuck; the step did not complete."""


class _AnotherFailed(TeamError):
    """Raised at a barrier when another process of the team has failed (its report says why)."""


class _Barrier:
    """Wait until all ``size`` processes have arrived: rank 0 counts the others in, then lets them go."""

    def __init__(self, ctx, size):
        self.size = size
        self.arrived = ctx.Semaphore(0)
        self.go = [ctx.Semaphore(0) for _ in range(size)]

    def wait(self, rank, take):
        """take(semaphore): how this process waits to acquire a semaphore (Team._take)."""
        if rank == 0:
            for _ in range(self.size - 1):
                take(self.arrived)
            for r in range(1, self.size):
                self.go[r].release()
        else:
            self.arrived.release()
            take(self.go[rank])


class Team:
    """``size`` processes that share one model: this one (rank 0) and ``size - 1`` forked workers.

    runner: the model's runner (minicnn/model/runner.py); batch_size: the
    largest batch a step will get; targets: an array shaped like one batch's
    targets (its trailing shape and dtype are used); adaptive: run whole steps
    in rank 0 alone while other programs leave fewer than ALONE_BELOW cores
    free (team_for sets it when set_processes was never called: results then
    depend on the load, in the last bits).
    """

    def __init__(self, runner, size, batch_size, targets=None, adaptive=False):
        if size < 2:
            raise ValueError("Team: size must be >= 2.")
        self.runner, self.size = runner, size
        self._share_weights(runner.layers)
        self._slots = list(runner.slots)
        widths = [int(layer.params[key].size) for layer, key in self._slots]
        self._offsets = np.concatenate([[0], np.cumsum(widths, dtype=np.int64)]).astype(int)
        floatx = backend.floatx()
        self.grads = shared_empty((size, int(self._offsets[-1])), floatx)
        self.scalars = shared_empty((size, 1 + len(runner.metrics)), np.float64)  # loss, metric sums
        reduce_len = max([2 * int(layer.state["moving_mean"].size) for layer in runner.layers
                          if "moving_mean" in layer.state] + [1])
        self.reduce = shared_empty((2, size, reduce_len), np.float64)   # two turns, see _allreduce
        self.failed = shared_empty((1,), np.int64)
        self.failed[0] = 0
        self.x = shared_empty((batch_size,) + tuple(runner.input_shape), floatx)
        self.out = shared_empty((batch_size,) + tuple(runner.output_shape), floatx)
        if targets is not None:
            self.t = shared_empty((batch_size,) + tuple(targets.shape[1:]), targets.dtype)
            self.w = shared_empty((batch_size,), floatx)    # per-sample weights, when given
        ctx = multiprocessing.get_context("fork")
        self._is_worker, self._parent = False, os.getpid()
        self.barrier = _Barrier(ctx, size)
        self._generation = 0                # changes whenever inference layers must be refolded
        self._workers, self._conns = [], []
        self._doing = "starting"            # what the workers were last told to do, for errors
        self.adaptive, self.load = adaptive, _Load(self)
        self.spinning = shared_empty((1,), np.int64)    # 1: waits spin first (SPIN); 0: they sleep
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
        self.load.guess()                   # a second look, the workers forked
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

    def _split_this_step(self, n):
        """Does a batch of n rows go over the team now? Not a small last batch, nor (an
        adaptive team) any batch while other programs leave fewer than ALONE_BELOW
        cores free. Also sets how this step's waits wait: they spin first only while
        every process of the team has a core of its own."""
        free = self.load.free_cores()
        self.spinning[0] = free > self.size - 0.5
        return n >= MIN_ROWS * self.size and not (self.adaptive and free < ALONE_BELOW)

    def _rows(self, n):
        return [slice(n * r // self.size, n * (r + 1) // self.size) for r in range(self.size)]

    # ---- one training step --------------------------------------------------
    def train_step(self, xb, tb, wb=None):
        """The runner's train_step over the team: (summed loss, metric sums). wb: per-sample
        weights or None; scaled here for the whole batch (runner.batch_weights), so that
        every rank's rows weigh what they would in one process."""
        runner, n = self.runner, xb.shape[0]
        if n > self.x.shape[0] or not self._split_this_step(n):   # small last batch, busy machine
            return runner.train_step(xb, tb, wb)
        rows = self._rows(n)
        self.x[:n], self.t[:n] = xb, tb
        if wb is not None:
            wb = runner.batch_weights(wb)
            self.w[:n] = wb
        rng_state = backend.rng().bit_generator.state  # every rank draws the same dropout mask
        self._send(("train", n, (rng_state, wb is not None)), rows)
        own = self._own_rows(n, rows[0], lambda: runner.gradients(
            xb[rows[0]], tb[rows[0]], None if wb is None else wb[rows[0]], batch_total=n))
        self._gather()
        loss = float(own[0]) + self.scalars[1:, 0].sum()
        sums = np.asarray(own[1], dtype=np.float64) + self.scalars[1:, 1:].sum(axis=0)
        for i, (layer, key) in enumerate(self._slots):
            g = layer.grads[key]
            parts = self.grads[1:, self._offsets[i]:self._offsets[i + 1]]
            for r in range(self.size - 1):
                g += parts[r].reshape(g.shape)                # rank order: repeatable
        runner.apply_gradients()
        return np.asarray(loss, dtype=backend.floatx()), sums.astype(backend.floatx())

    def _worker_train(self, rank, n, step, rows):
        rng_state, weighted = step                      # (the RNG state, are there weights?)
        backend.rng().bit_generator.state = rng_state
        loss, sums = self._run_rows(rank, n, rows, lambda: self.runner.gradients(
            self.x[rows], self.t[rows], self.w[rows] if weighted else None, batch_total=n))
        for i, (layer, key) in enumerate(self._slots):
            self.grads[rank, self._offsets[i]:self._offsets[i + 1]] = layer.grads[key].ravel()
        self.scalars[rank, 0] = float(loss)
        self.scalars[rank, 1:] = sums

    # ---- inference ---------------------------------------------------------
    def refold(self):
        """Inference layers must be rebuilt (the weights changed since the last call)."""
        self._generation += 1

    def infer(self, xb, which):
        """Outputs of ``which`` ("logits" or "outputs") layers on xb, inference mode."""
        n = xb.shape[0]
        if not self._split_this_step(n):                # a small last batch, or a busy machine
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
        except _AnotherFailed:
            pass                            # a worker failed: its reply says how (below)
        except BaseException:
            self.failed[0] = 1
            raise
        self._gather()                      # raises TeamError with the worker's report
        raise TeamError("a worker process failed during the step")

    def allreduce(self, part, vec):
        """split.allreduce inside a step: every rank's ``vec`` added, in rank order."""
        slots = self.reduce[part.reduces % 2]    # alternate buffers: no rank can lap another
        part.reduces += 1
        flat = vec.ravel()
        if flat.size > slots.shape[1]:
            raise ValueError(f"split.allreduce: {flat.size} numbers, but the team made room "
                             f"for {slots.shape[1]} (twice the widest batch norm).")
        slots[part.rank, :flat.size] = flat
        self.barrier.wait(part.rank, self._take)
        total = slots[0, :flat.size].copy()
        for r in range(1, self.size):
            total += slots[r, :flat.size]
        return np.asarray(total.reshape(vec.shape), dtype=vec.dtype)

    def _send(self, command, rows):
        self._doing = _DOING.get(command[0], command[0])
        for r, conn in enumerate(self._conns, start=1):
            try:
                conn.send(command + (rows[r],))
            except OSError:                 # its end of the pipe is closed: it is gone
                raise self._failure([r], "exited unexpectedly", " (before it got the command).") from None

    def _gather(self):
        """Wait for every worker's reply; raise TeamError with the first worker's error."""
        errors = []
        for r, conn in enumerate(self._conns, start=1):
            try:
                status, detail = self._receive(conn, "reply")
            except (EOFError, OSError):
                status, detail = "error", f"pid {self._workers[r - 1].pid} exited unexpectedly"
            if status != "ok":
                errors.append(f"rank {r}: {detail}")
        if errors:
            self.failed[0] = 1
            raise TeamError(f"a worker process failed during {self._doing}:\n" + "\n".join(errors))

    def _failure(self, ranks, what, advice=""):
        """The TeamError for workers ``ranks`` that ``what`` during the current command; the
        other workers are told to give up the step."""
        self.failed[0] = 1
        who = ", ".join(f"rank {r} (pid {self._workers[r - 1].pid})" for r in ranks)
        return TeamError(f"worker{'s' if len(ranks) > 1 else ''} {who} {what} during {self._doing}{advice}")

    # ---- waiting -------------------------------------------------------------
    def _wait(self, ready, block, waiting_for):
        """Return once ready() is true.

        While every process of the team has a core of its own (``spinning``, set
        by rank 0 before each step), first ask without sleeping for up to SPIN
        seconds (_ask); then sleep in block(POLL), true once ready, and between
        sleeps check that the wait can still end: rank 0 looks at its workers
        (_Watch, TeamError), a worker at its rank 0 (_check_rank_0). ``waiting_for``:
        "command" (a worker between steps), "reply" (rank 0 at a step's end) or
        "barrier".
        """
        if _ask(ready, SPIN if self.spinning[0] else 0.0):
            return
        watch = None if self._is_worker else _Watch(self, waiting_for == "barrier")
        while not block(POLL):
            if watch is not None:
                watch.look()
            else:
                self._check_rank_0(waiting_for)

    def _take(self, semaphore):
        """Acquire a barrier's semaphore, waiting as _wait does."""
        self._wait(lambda: semaphore.acquire(False),
                   lambda timeout: semaphore.acquire(timeout=timeout), "barrier")

    def _receive(self, conn, waiting_for):
        """The next message on ``conn``, waited for as _wait waits; EOFError if its other end closed."""
        self._wait(lambda: conn.poll(0), conn.poll, waiting_for)
        return conn.recv()

    def _check_rank_0(self, waiting_for):
        """A worker's check while it waits: rank 0 is still its parent (EOFError if not: this
        process was handed to another), and at a barrier, no other process has failed."""
        if os.getppid() != self._parent:
            raise EOFError("rank 0 is gone")
        if waiting_for == "barrier" and self.failed[0]:
            raise _AnotherFailed("another process of the team failed")

    # ---- closing -------------------------------------------------------------
    def close(self):
        """Stop the workers and give this process its threads back, within about CLOSE_WAIT
        seconds whatever the workers are doing: one still there by then (inside a long
        step, stopped, stuck) is killed (SIGKILL, which also ends a stopped process) and
        reaped, so nothing waits on it later (interpreter exit joins leftover children).
        A Ctrl-C pressed meanwhile is held until the workers are gone, then raised."""
        pressed = []
        handler = _hold_ctrl_c(pressed)
        try:
            try:
                if self._workers:
                    self.failed[0] = 1      # a worker still inside a step gives it up
                for conn in self._conns:
                    try:
                        conn.send(("stop",))
                    except OSError:         # that worker is gone already
                        pass
                deadline = time.monotonic() + CLOSE_WAIT
                for proc in self._workers:
                    proc.join(timeout=max(deadline - time.monotonic(), 0.0))
            finally:
                for proc in self._workers:
                    if proc.is_alive():
                        proc.kill()
                for proc in self._workers:
                    proc.join(timeout=1.0)
        finally:
            for conn in self._conns:
                conn.close()
            self._workers, self._conns = [], []
            self.runner.busy = False
            threads.restore_threads(self._threads_before)
            if handler is not None:
                signal.signal(signal.SIGINT, handler)
        if pressed:
            raise KeyboardInterrupt

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.close()
        except KeyboardInterrupt:
            if exc_type is None or not issubclass(exc_type, KeyboardInterrupt):
                raise
            # a second Ctrl-C during close, while the first is on its way out: one is enough


def _hold_ctrl_c(pressed):
    """Until the returned handler is put back, a Ctrl-C appends to ``pressed`` instead of
    raising KeyboardInterrupt. None (nothing held) outside the main thread, or where
    SIGINT has a handler other than Python's own."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        return None
    return signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))


class _Watch:
    """Rank 0's look at the workers, every POLL seconds while it waits for them.

    The wait ends with a TeamError naming the worker (rank, pid) and what it
    was doing when a worker has exited; when it is stopped (state 'T' in
    /proc/PID/stat: SIGSTOP) at two looks in a row (Ctrl-Z stops the whole job
    and ``fg`` continues it: rank 0 may wake a moment before its workers); or
    when no worker has used any CPU time for STUCK seconds of waiting (blocked
    for good). Only seconds in which rank 0 itself ran count, so a job
    suspended with Ctrl-Z is not stuck. At a barrier, a worker's failure
    (``failed``) ends the wait too.
    """

    def __init__(self, team, at_barrier):
        self.team, self.at_barrier = team, at_barrier
        self.stopped = set()        # ranks seen stopped at the last look
        self.cpu = None             # the workers' CPU ticks at the last look
        self.idle = 0.0             # seconds of waiting since a worker last used the CPU
        self.last = time.monotonic()

    def look(self):
        team = self.team
        if self.at_barrier and team.failed[0]:
            raise _AnotherFailed("another process of the team failed")
        now = time.monotonic()
        waited, self.last = min(now - self.last, 2 * POLL), now
        stopped, cpu = set(), 0
        for rank, proc in enumerate(team._workers, start=1):
            if not proc.is_alive():
                raise team._failure([rank], "exited unexpectedly", f" (exit code {proc.exitcode}).")
            state, ticks = _process_stat(proc.pid)
            if state is None:               # unreadable: no way to tell whether it moves
                cpu = None
            elif state == "T":
                if rank in self.stopped:
                    raise team._failure([rank], "was stopped (SIGSTOP)", ", and the others cannot "
                                        "go on without it. To pause training, stop the whole job "
                                        "(Ctrl-Z stops every process of the team together).")
                stopped.add(rank)
            if cpu is not None:
                cpu += ticks
        self.stopped = stopped
        self.idle = self.idle + waited if cpu is not None and cpu == self.cpu else 0.0
        self.cpu = cpu
        if STUCK is not None and self.idle >= STUCK:
            raise team._failure(range(1, team.size), f"used no CPU time for {self.idle:.0f} s",
                                " (blocked for good?). If a worker's share of a step can really "
                                "wait that long, raise minicnn.fast.team.STUCK (None: never "
                                "give up).")


class _Load:
    """How many of the cores this process may use are free of other programs' work.

    Rank 0 asks before every step (free_cores). Every LOAD_EVERY seconds it
    reads how long those cores were busy since the last reading (/proc/stat:
    user, nice, system, irq, softirq and steal time, per core) and takes away
    the CPU time of the team's own processes, their spinning included
    (/proc/PID/stat): what is left is other programs' work,

        free = cores - (busy ticks - the team's ticks) / all ticks * cores.

    Until the first reading, the tasks runnable at the team's start stand in
    for the others' work (guess). Without /proc every core counts as free.
    """

    def __init__(self, team):
        self.team = team
        self.cpus = {f"cpu{c}".encode() for c in os.sched_getaffinity(0)}
        self.before = self._read()
        self.next_look = time.monotonic() + LOAD_EVERY
        self.free, self.guessed = float(len(self.cpus)), None
        if self.before is not None:
            self.guess()

    def guess(self):
        """Count the tasks runnable right now (/proc/loadavg's 4th field) less the team's
        own runnable threads (rank 0's OpenBLAS threads spin a while after their work);
        called again, keep the smaller count: a task runnable at only one of two moments
        was passing through."""
        ours = self._our_runnable_threads()
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return
        others = max(running - max(ours, self._our_runnable_threads()), 0)
        self.guessed = others if self.guessed is None else min(self.guessed, others)
        self.free = float(max(len(self.cpus) - self.guessed, 0))

    def free_cores(self):
        now = time.monotonic()
        if self.before is not None and now >= self.next_look:
            self.next_look = now + LOAD_EVERY
            after = self._read()
            if after is not None and after[1] > self.before[1]:
                (busy_0, all_0, team_0), (busy_1, all_1, team_1) = self.before, after
                ours = sum(ticks - team_0.get(pid, 0) for pid, ticks in team_1.items())
                others = (busy_1 - busy_0 - ours) / (all_1 - all_0) * len(self.cpus)
                self.free = len(self.cpus) - max(others, 0.0)
                self.before = after
        return self.free

    def _pids(self):
        return [os.getpid()] + [proc.pid for proc in self.team._workers]

    def _read(self):
        """(busy ticks, all ticks) of this process's cores, and {pid: CPU ticks} of the
        team's processes; None without /proc/stat."""
        busy = everything = 0
        try:
            with open("/proc/stat", "rb") as f:
                for line in f:
                    fields = line.split()
                    if fields and fields[0] in self.cpus:
                        user, nice, system, idle, iowait, irq, softirq, steal = map(int, fields[1:9])
                        busy += user + nice + system + irq + softirq + steal
                        everything += user + nice + system + idle + iowait + irq + softirq + steal
        except (OSError, ValueError):
            return None
        if everything == 0:
            return None
        return busy, everything, {pid: _process_stat(pid)[1] for pid in self._pids()}

    def _our_runnable_threads(self):
        count = 0
        for pid in self._pids():
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            count += sum(_process_stat(f"{pid}/task/{task}")[0] == "R" for task in tasks)
        return count


def _process_stat(pid):
    """(state letter, CPU time in clock ticks) of process (or "PID/task/TID": thread)
    ``pid``, from /proc/PID/stat (fields 3, 14 and 15 of proc(5)); (None, 0) if it
    cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None, 0


def _worker_main(team, rank, conn):
    """A worker's life: run commands from rank 0 until told to stop, or until rank 0
    is gone (its end of the pipe closed, or this process handed to another parent);
    then it ends quietly, since there is no one to report to."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is rank 0's to handle
    _end_with_parent()
    team._is_worker = True
    for inherited in team._conns:   # rank 0's ends (this worker's own among them), copied by
        inherited.close()           # the fork: closed here, so rank 0 closing them ends us
    team._conns, team._workers = [], []
    try:
        while True:
            command = team._receive(conn, "command")
            kind, rows = command[0], command[-1]
            if kind == "stop":
                return
            try:
                if kind == "train":
                    team._worker_train(rank, command[1], command[2], rows)
                else:
                    team.out[rows] = team._run_rows(rank, command[1], rows, lambda: team._infer_rows(
                        team.x[rows], command[2], command[3]))
                reply = ("ok", None)
            except TeamError as err:
                reply = ("error", str(err))
            except BaseException:
                team.failed[0] = 1
                reply = ("error", traceback.format_exc())
            conn.send(reply)
    except (EOFError, OSError):     # the pipe to rank 0 closed: rank 0 is gone, or closing the team
        return


def _end_with_parent():
    """Have Linux kill this worker (SIGKILL, which ends even a stopped process) as soon as
    the rank 0 thread that forked it ends, killed or not (prctl's PR_SET_PDEATHSIG); the
    pipe and the parent checks (_check_rank_0) remain for systems without it."""
    try:
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)     # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


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

"""The loops over batches: fit's epochs (with callbacks and the undoing of a failed
epoch), evaluation and prediction.

A loop takes its batches as an iterable of device arrays (x, targets, weights),
whether they were cut from arrays (``array_batches``) or drawn from a generator
(sequential.py checks each one as it comes). On CuPy the loss and every
metric add up on the device; the host reads the sums once per epoch (or every
few dozen batches for the progress bar). There the training step and the
evaluation of a batch run as CUDA graphs where they can (minicnn/fast/graph.py).
"""
import math
import sys
import time

import numpy as np  # host side: the shuffled order

from .. import backend
from ..fast import graph


def array_batches(x, t, w, batch_size, order=None):
    """(x, targets, weights) device batches of ``batch_size`` rows, in ``order`` (device
    indices; the stored order if None); weights may be None."""
    n = x.shape[0]
    for start in range(0, n, batch_size):
        if order is None:
            rows = slice(start, start + batch_size)
        else:
            rows = order[start:start + batch_size]
        yield x[rows], t[rows], (None if w is None else w[rows])


def shuffled_batches(x, t, w, batch_size, shuffle):
    """A function making one epoch's batches: a fresh order each epoch when ``shuffle``."""
    def epoch_batches():
        n = x.shape[0]
        order = backend.host_rng().permutation(n) if shuffle else np.arange(n)
        return array_batches(x, t, w, batch_size, backend.to_device(order))
    return epoch_batches


def fit_epochs(model, epochs, initial_epoch, verbose, callbacks, epoch_batches, steps, step,
               validate):
    """fit's epochs: train, validate, report, call back; stops early when asked to.

    epoch_batches(): one epoch's (x, targets, weights) device batches, ``steps`` of
    them; step: the training step (the runner's, or a process team's);
    validate: None, or a function returning the validation [loss, *metrics].
    An epoch that ends with a NaN or inf loss (or weight) is undone: the weights
    and the optimizer's state from its start are put back, and training stops.
    """
    runner = model.runner
    names = model.metrics_names
    for epoch in range(initial_epoch, epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        start = time.perf_counter()
        saved = _training_state(model)                      # to undo this epoch if it fails
        means, bad_batch = _train_epoch(model, epoch_batches(), steps, verbose, callbacks, step)
        if means is None:                                   # non-finite loss: stopped
            _restore_training_state(model, saved)
            model.stop_training = True
            model.history.stopped = _stopped_reason(epoch, bad_batch)
            break
        logs = dict(zip(names, means))
        if validate is not None:
            logs.update({"val_" + name: value for name, value in zip(names, validate())})
        logs["lr"] = float(runner.optimizer.lr)
        if verbose:
            print(_epoch_line(time.perf_counter() - start, logs), flush=True)
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            break


def _train_epoch(model, batches, steps, verbose, callbacks, step):
    """One pass over the batches; returns ([loss, *metrics] means, None), or (None, the
    batch where the loss went non-finite; None if found only at the end, or in a weight).

    The loss and metric sums add up on the device. The host reads them every
    batch on NumPy (free); on a GPU every 50 batches while a progress bar shows
    them (one sync each), and otherwise only once, at the end of the epoch.
    """
    xp, floatx = backend.xp(), backend.floatx()
    names = model.metrics_names
    loss_sum = xp.zeros((), dtype=floatx)
    metric_sums = xp.zeros((len(names) - 1,), dtype=floatx)
    seen = 0
    bar = _progress(steps, verbose)
    read_every = 1 if backend.get_backend() == "numpy" else (50 if bar is not None else 0)
    try:
        for b, (xb, tb, wb) in enumerate(batches):
            size = int(xb.shape[0])
            for callback in callbacks:
                if callable(getattr(callback, "on_batch_begin", None)):
                    callback.on_batch_begin(b, {"batch": b, "size": size})
            batch_loss, batch_sums = step(xb, tb, wb)
            loss_sum += batch_loss
            metric_sums += batch_sums
            seen += size
            for callback in callbacks:      # no metrics in the batch logs: no host sync
                callback.on_batch_end(b, {"batch": b, "size": size})
            if read_every and (b % read_every == read_every - 1 or b == steps - 1):
                running = _read(loss_sum, metric_sums) / seen        # one read for all
                if not math.isfinite(running[0]):
                    return None, b
                if bar is not None:
                    bar.set_postfix_str(_metrics_text(names, running), refresh=False)
            if bar is not None:
                bar.update(1)
            if model.stop_training:                # a callback asked (Keras stops at once)
                break
    finally:
        if bar is not None:
            bar.close()
    if seen == 0:
        raise ValueError("fit: the training data gave no batches this epoch; a generator must "
                         "yield at least steps_per_epoch batches per epoch.")
    finite = xp.stack([xp.isfinite(a).all() for a in model.weight_arrays()]).all()
    values = _read(loss_sum, metric_sums, finite.astype(floatx).reshape(1))
    if not (math.isfinite(values[0]) and values[-1]):        # (loss read only now on a GPU)
        return None, None
    return [float(v) / seen for v in values[:-1]], None


def _read(loss_sum, metric_sums, *more):
    """The device sums as one host float64 vector: one transfer."""
    xp = backend.xp()
    return backend.to_host(xp.concatenate([loss_sum.reshape(1), metric_sums, *more])).astype(
        np.float64)


def evaluate_batches(runner, batches, team=None, steps=None, verbose=0, where="evaluate"):
    """[mean loss, *mean metrics] over (x, targets, weights) device batches, inference
    mode; the weight penalties (if any) are added to the loss, as Keras reports it."""
    xp, floatx = backend.xp(), backend.floatx()
    loss_sum = xp.zeros((), dtype=floatx)
    metric_sums = xp.zeros((len(runner.metrics),), dtype=floatx)
    n = 0
    score = graph.scoring(runner, team)     # a CUDA graph on a GPU, where it can be
    bar = _progress(steps, verbose)
    try:
        for xb, tb, wb in batches:
            batch_loss, batch_sums = score(xb, tb, wb)
            loss_sum += batch_loss
            metric_sums += batch_sums
            n += int(xb.shape[0])
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if n == 0:
        raise ValueError(f"{where}: the data gave no batches to evaluate.")
    values = _read(loss_sum, metric_sums) / n
    values[0] += float(backend.to_host(runner.penalty()))
    return [float(v) for v in values]


def predict_batches(runner, batches, team=None, steps=None, verbose=0):
    """The model's outputs on device batches of inputs, as one device array."""
    outputs_of = runner.inference("outputs", team)
    bar = _progress(steps, verbose)
    outs = []
    try:
        for xb in batches:
            outs.append(outputs_of(xb))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if not outs:
        raise ValueError("predict: the data gave no batches.")
    return backend.xp().concatenate(outs, axis=0)


# ---- undoing a failed epoch ----------------------------------------------------------
def _training_state(model):
    """Copies of every weight and of the optimizer's state (what an epoch changes)."""
    return [a.copy() for a in model.weight_arrays()], model.runner.optimizer.get_state()


def _restore_training_state(model, saved):
    """Put back what _training_state copied, in place (worker processes share the arrays)."""
    weights, optimizer_state = saved
    for a, w in zip(model.weight_arrays(), weights):
        a[...] = w
    model.runner.optimizer.set_state(optimizer_state)


def _stopped_reason(epoch, bad_batch):
    if bad_batch is None:
        where, when = f"epoch {epoch + 1}", " (found at the end of the epoch)"
    else:
        where = f"epoch {epoch + 1}, batch {bad_batch + 1}"
        when = "" if backend.get_backend() == "numpy" else \
            " (read every 50 batches on a GPU: in the 50 up to this one)"
    print(f"fit: the training loss or the weights became NaN or inf at {where}{when}; "
          f"training stopped, and the weights and optimizer state from the start of epoch "
          f"{epoch + 1} are back in the model. Try a lower learning rate.",
          file=sys.stderr, flush=True)
    return f"non-finite loss at {where}; the weights from before it are restored"


# ---- what the user sees --------------------------------------------------------------
def is_terminal():
    return hasattr(sys.stdout, "isatty") and sys.stdout.isatty()


def in_notebook():
    """Is this a Jupyter (or Colab) kernel? Its output is a web page, not a terminal:
    the progress bar is tqdm's notebook widget there."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


def progress_mode(verbose):
    """verbose as the loops show it: a bar (1) in a terminal or a notebook; one line per
    epoch (2) when the output is a file or a pipe, where a bar would be a mess."""
    if verbose == 1 and not (is_terminal() or in_notebook()):
        return 2
    return verbose


def _progress(total, verbose):
    if verbose != 1:
        return None
    if in_notebook():
        from tqdm.auto import tqdm  # the notebook widget (text, if ipywidgets is missing)
        return tqdm(total=total, unit="batch", leave=True)
    from tqdm import tqdm
    return tqdm(total=total, unit="batch", file=sys.stdout, mininterval=0.25, leave=True,
                dynamic_ncols=True)


def _metrics_text(names, values):
    return " - ".join(f"{name}: {value:.4f}" for name, value in zip(names, values))


def _epoch_line(seconds, logs):
    parts = [f"{seconds:.1f}s"]
    parts += [f"{key}: {value:.4f}" for key, value in logs.items() if key != "lr"]
    parts.append(f"lr: {logs['lr']:.6g}")
    return " - ".join(parts)

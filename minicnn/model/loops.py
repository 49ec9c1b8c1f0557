"""The loops over batches: fit's epochs (with callbacks and the undoing of a failed
epoch), evaluation and prediction.

On CuPy the data is on the device before a loop starts, and metrics add up
there; the host reads them once per epoch (or every few dozen batches for
the progress bar).
"""
import math
import sys
import time

import numpy as np  # host side: the shuffled order

from .. import backend


def fit_epochs(model, x, t, lab, batch_size, epochs, verbose, shuffle, callbacks, team,
               validation):
    """fit's epochs: train, validate, report, call back; stops early when asked to.

    An epoch that ends with a NaN or inf loss (or weight) is undone: the weights
    and the optimizer's state from its start are put back, and training stops.
    """
    runner = model.runner
    for epoch in range(epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        start = time.perf_counter()
        saved = _training_state(model)                      # to undo this epoch if it fails
        logs, bad_batch = _train_epoch(model, x, t, lab, batch_size, shuffle, verbose,
                                       callbacks, team)
        if logs is None:                                    # non-finite loss: stopped
            _restore_training_state(model, saved)
            model.stop_training = True
            model.history.stopped = _stopped_reason(epoch, bad_batch)
            break
        if validation is not None:
            logs["val_loss"], logs["val_acc"] = evaluate_batches(runner, *validation,
                                                                 batch_size, team)
        logs["lr"] = float(runner.optimizer.lr)
        if verbose:
            print(_epoch_line(time.perf_counter() - start, logs), flush=True)
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            break


def _train_epoch(model, x, t, lab, batch_size, shuffle, verbose, callbacks, team=None):
    """One pass over the data; returns ({"loss", "acc"}, None), or (None, the batch where
    the loss went non-finite; None if found only at the end, or in a weight).

    Metrics add up on the device. The host reads them every batch on NumPy
    (free); on a GPU every 50 batches while a progress bar shows them (one
    sync each), and otherwise only once, at the end of the epoch.
    """
    xp = backend.xp()
    n = x.shape[0]
    n_batches = math.ceil(n / batch_size)
    order = backend.host_rng().permutation(n) if shuffle else np.arange(n)
    order = backend.to_device(order)
    loss_sum, correct, seen = xp.zeros((), dtype=backend.floatx()), xp.zeros((), xp.int64), 0
    bar = _progress(n_batches, verbose)
    read_every = 1 if backend.get_backend() == "numpy" else (50 if bar is not None else 0)
    step = team.train_step if team is not None else model.runner.train_step
    try:
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            batch_loss, batch_correct = step(x[idx], t[idx], lab[idx])
            loss_sum += batch_loss
            correct += batch_correct
            seen += idx.shape[0]
            for callback in callbacks:
                callback.on_batch_end(b, {"size": int(idx.shape[0])})  # no metrics: no host sync
            if read_every and (b % read_every == read_every - 1 or b == n_batches - 1):
                running, right = (float(v) for v in backend.to_host(xp.stack([loss_sum, correct])))
                running /= seen                              # one read for both numbers
                if not math.isfinite(running):
                    return None, b
                if bar is not None:
                    bar.set_postfix_str(f"loss: {running:.4f} - acc: {right / seen:.4f}",
                                        refresh=False)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    finite = xp.stack([xp.isfinite(a).all() for a in model.weight_arrays()]).all()
    loss_sum, correct, finite = (float(v) for v in backend.to_host(xp.stack([loss_sum, correct,
                                                                             finite])))
    if not (math.isfinite(loss_sum) and finite):             # (loss read only now on a GPU)
        return None, None
    return {"loss": loss_sum / seen, "acc": correct / seen}, None


def evaluate_batches(runner, x, t, lab, batch_size, team=None):
    """(mean loss, accuracy) over already-checked device data, inference mode."""
    loss_sum = correct = 0.0
    n = x.shape[0]
    logits_of = runner.inference("logits", team)
    for i in range(0, n, batch_size):
        logits = logits_of(x[i:i + batch_size])
        loss_sum = loss_sum + runner.loss.forward(logits, t[i:i + batch_size], validate=False) \
            * logits.shape[0]
        correct = correct + (logits.argmax(axis=1) == lab[i:i + batch_size]).sum()
    loss_sum, correct = (float(v) for v in backend.to_host(backend.xp().stack([loss_sum,
                                                                                correct])))
    return loss_sum / n, correct / n


def predict_batches(runner, x, batch_size, team=None):
    """The model's outputs on already-checked device data, batch by batch, as one device array."""
    outputs_of = runner.inference("outputs", team)
    outs = [outputs_of(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
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


def _progress(total, verbose):
    if verbose != 1:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="batch", file=sys.stdout, mininterval=0.25, leave=True,
                dynamic_ncols=True)


def _epoch_line(seconds, logs):
    parts = [f"{seconds:.1f}s"]
    for key in ("loss", "acc", "val_loss", "val_acc"):
        if key in logs:
            parts.append(f"{key}: {logs[key]:.4f}")
    parts.append(f"lr: {logs['lr']:.6g}")
    return " - ".join(parts)

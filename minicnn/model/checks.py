"""The checks data and settings pass on their way into a model, before anything changes.

Data is checked once, when it enters fit/evaluate/predict, and moved to the
device then; the steps that follow trust it (the loss's own checks are off).
"""
import numpy as np  # host side: the targets are checked on a host copy

from .. import backend
from ..fast.memory import keep_freed_memory
from ..nn.losses import check_targets

CALLBACK_HOOKS = ("set_model", "on_train_begin", "on_epoch_begin", "on_batch_end",
                  "on_epoch_end", "on_train_end")


def check_x(x, input_shape, where):
    """Shape, dtype and finiteness of inputs; returns them as a device array of floatx."""
    expected = tuple(input_shape)
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{where}: x must be an array (numpy or cupy), got "
                        f"{type(x).__name__}; convert it with np.asarray(x, dtype='float32').")
    shape = tuple(x.shape)
    if len(shape) != len(expected) + 1 or shape[1:] != expected:
        raise ValueError(f"{where}: x must have shape (samples, {', '.join(map(str, expected))}) "
                         f"to match the model's input, got {shape}.")
    if shape[0] == 0:
        raise ValueError(f"{where}: x holds no samples.")
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: x has dtype {x.dtype}; convert it to floats first, e.g. "
                        f"x.astype('{backend.floatx()}') / 255 for images.")
    x = backend.to_device(x, dtype=backend.floatx())
    if not bool(backend.to_host(backend.xp().isfinite(x).all())):
        raise ValueError(f"{where}: x contains NaN or inf values (or values beyond "
                         f"{backend.floatx()}'s range); clean the data first.")
    if backend.get_backend() == "numpy":
        keep_freed_memory()          # batches reuse freed arrays (minicnn/fast/memory.py)
    return x


def check_y(y, n, classes, where):
    """Targets: integer labels (N,) or one-hot (N, K); returns (targets, labels) on the device."""
    if not hasattr(y, "shape"):                     # a list, or something that is no array
        try:
            y = np.asarray(y)
        except (TypeError, ValueError) as err:      # e.g. rows of different lengths
            raise TypeError(f"{where}: y must be an array of labels (samples,) or one-hot "
                            f"rows (samples, classes); np.asarray failed: {err}") from err
    y_host = backend.to_host(y)
    check_targets(y_host, n, classes, where)
    if y_host.ndim == 1:
        targets = labels = y_host.astype(np.int64)
    else:
        labels, targets = y_host.argmax(axis=1), y_host.astype(backend.floatx())
    return backend.to_device(targets), backend.to_device(labels)


def check_verbose(verbose, who):
    if isinstance(verbose, str) or verbose not in (0, 1, 2):
        raise ValueError(f"{who}: verbose must be 0 (silent), 1 (progress bar) or 2 (one "
                         f"line per epoch), got {verbose!r}.")


def callback_list(callbacks):
    """fit's callbacks as a list: objects with every hook fit calls (a Callback, or any
    object that has them), each one's check() run before fit changes anything."""
    if callbacks is None:
        return []
    if hasattr(callbacks, "on_epoch_end") or isinstance(callbacks, (str, bytes)) \
            or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"fit: callbacks must be a list of callbacks, got "
                        f"{type(callbacks).__name__}; e.g. callbacks=[CSVLogger('log.csv')].")
    callbacks = list(callbacks)
    for callback in callbacks:
        missing = [hook for hook in CALLBACK_HOOKS if not callable(getattr(callback, hook, None))]
        if missing:
            raise TypeError(f"fit: {callback!r} is not a callback (it has no {missing[0]}); use "
                            "minicnn.callbacks or subclass minicnn.callbacks.Callback.")
    for callback in callbacks:
        if callable(getattr(callback, "check", None)):
            callback.check()
    return callbacks


def validation_pair(validation_data):
    """(x_val, y_val), or None; Keras' (x_val, y_val, None) is taken too."""
    if validation_data is None:
        return None
    if isinstance(validation_data, (tuple, list)):
        if len(validation_data) == 3 and validation_data[2] is not None:
            raise ValueError("fit: validation_data has sample weights (a third item), which "
                             "minicnn does not support; pass (x_val, y_val).")
        if len(validation_data) in (2, 3):
            return tuple(validation_data[:2])
    raise ValueError("fit: validation_data must be a pair (x_val, y_val).")

"""The checks data and settings pass on their way into a model, before anything changes.

Data is checked once, when it enters fit/evaluate/predict (or, from a
generator, batch by batch as it arrives), and moved to the device then; the
steps that follow trust it (the loss's own checks are off).
"""
import numbers
import warnings

import numpy as np  # host side: the targets and weights are checked on a host copy

from .. import backend
from ..fast.memory import keep_freed_memory
from ..nn.base import is_count
from ..nn.losses import check_targets

CALLBACK_HOOKS = ("set_model", "on_train_begin", "on_epoch_begin", "on_batch_end",
                  "on_epoch_end", "on_train_end")


def check_x(x, input_shape, where):
    """Shape, dtype and finiteness of inputs; returns them as a device array of floatx.
    ``input_shape`` is per sample; a leading None (Keras' batch axis, as
    model.input_shape has it) is skipped."""
    expected = tuple(input_shape)
    if expected and expected[0] is None:
        expected = expected[1:]
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


def host_array(y, where, what="y"):
    """``y`` as a host numpy array (lists are taken, as Keras takes them)."""
    if not hasattr(y, "shape"):                     # a list, or something that is no array
        try:
            y = np.asarray(y)
        except (TypeError, ValueError) as err:      # e.g. rows of different lengths
            raise TypeError(f"{where}: {what} must be an array; np.asarray failed: {err}") from err
    return backend.to_host(y)


def check_y(y, n, classes, where):
    """Class targets: integer labels (N,) or one-hot (N, K); returns (targets, labels) on
    the device (for tools that run the softmax cross-entropy by hand: profiler, diagnostics)."""
    y_host = host_array(y, where)
    check_targets(y_host, n, classes, where)
    if y_host.ndim == 1:
        targets = labels = y_host.astype(np.int64)
    else:
        labels, targets = y_host.argmax(axis=1), y_host.astype(backend.floatx())
    return backend.to_device(targets), backend.to_device(labels)


def check_targets_for(loss, y, n, output_shape, where):
    """Targets as ``loss`` takes them (minicnn/nn/losses.py), checked; (host, device) copies."""
    y_host = loss.check_targets(host_array(y, where), n, tuple(output_shape), where)
    return y_host, backend.to_device(y_host)


def check_sample_weights(sample_weight, class_weight, y_host, n, where):
    """Per-sample weights (N,) on the device, from ``sample_weight`` or ``class_weight``
    (a dict class -> weight, as Keras: sample_weight wins, with a warning, when both
    are given); None when neither is. ``y_host``: the checked host targets."""
    if sample_weight is not None:
        if class_weight is not None:
            warnings.warn(f"{where}: both sample_weight and class_weight given; class_weight "
                          "is ignored (as in Keras).", UserWarning, stacklevel=4)
        w = host_array(sample_weight, where, "sample_weight")
        if w.ndim != 1 or w.shape[0] != n:
            raise ValueError(f"{where}: sample_weight must have shape ({n},), one weight per "
                             f"sample, got {tuple(w.shape)}.")
        if w.dtype.kind not in "biuf" or not np.isfinite(w).all() or (n and w.min() < 0):
            raise ValueError(f"{where}: sample_weight must hold finite numbers >= 0.")
        return backend.to_device(w, dtype=backend.floatx())
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(f"{where}: class_weight must be a dict {{class: weight}}, e.g. "
                        f"{{0: 1.0, 1: 5.0}}, got {type(class_weight).__name__}.")
    for key, value in class_weight.items():
        if not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                and np.isfinite(value) and value >= 0):
            raise ValueError(f"{where}: class_weight[{key!r}] must be a finite number >= 0, "
                             f"got {value!r}.")
    if y_host.ndim == 1:
        classes = y_host
    elif y_host.ndim == 2 and y_host.shape[1] > 1:
        classes = y_host.argmax(axis=1)
    elif y_host.ndim == 2:
        classes = y_host.reshape(-1)
    else:
        raise ValueError(f"{where}: class_weight needs targets (samples,) or (samples, "
                         f"classes), got shape {y_host.shape}.")
    classes = classes.astype(np.int64) if np.all(np.mod(classes, 1) == 0) else classes
    missing = sorted(set(classes.tolist()) - set(class_weight))
    if missing:
        raise ValueError(f"{where}: class_weight has no weight for the classes {missing}, "
                         "which the data holds; give every class a weight.")
    lookup = np.array([float(class_weight[c]) for c in classes.tolist()])
    return backend.to_device(lookup, dtype=backend.floatx())


def check_verbose(verbose, who):
    if isinstance(verbose, str) or verbose not in (0, 1, 2):
        raise ValueError(f"{who}: verbose must be 0 (silent), 1 (progress bar) or 2 (one "
                         f"line per epoch), got {verbose!r}.")


def check_steps(steps, name, where, allow_none=True):
    """A count of batches (>= 1), or None where that is allowed."""
    if steps is None and allow_none:
        return None
    if not is_count(steps) or steps < 1:
        raise ValueError(f"{where}: {name} must be an int >= 1 (a number of batches), "
                         f"got {steps!r}.")
    return int(steps)


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


def validation_arrays(validation_data):
    """(x_val, y_val, sample_weight or None) from Keras' (x_val, y_val) or
    (x_val, y_val, val_sample_weights); None for None."""
    if validation_data is None:
        return None
    if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
        x, y = validation_data[:2]
        return x, y, (validation_data[2] if len(validation_data) == 3 else None)
    raise ValueError("fit: validation_data must be a pair (x_val, y_val) or a triple (x_val, "
                     "y_val, val_sample_weights), or a generator of such batches.")


def is_generator(data):
    """Is ``data`` a stream of batches (a generator, an iterator, or a Keras Sequence-like
    object with __len__ and __getitem__) rather than an array?"""
    if data is None or hasattr(data, "shape") or isinstance(data, (list, tuple, str, bytes, dict)):
        return False
    return hasattr(data, "__next__") or (hasattr(data, "__getitem__") and hasattr(data, "__len__"))

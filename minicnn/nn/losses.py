"""Softmax cross-entropy, fused and numerically stable, and the checks of its targets.

For logits z (N, K) and targets t (one-hot rows, or integer labels):
    loss = mean_n [ logsumexp(z_n) - sum_k t_nk z_nk ]
    dL/dz = (softmax(z) - t) / N
Fusing softmax with the log avoids log(0) on rounded probabilities.
"""
import numpy  # host side: the checks of the targets read a host copy

from .. import backend


class SoftmaxCrossEntropy:
    def forward(self, logits, y, validate=True):
        """Mean loss over the batch, as a 0-d array on the backend.

        The checks (``validate=True``) read the targets to the host: one sync
        on a GPU. ``validate=False`` skips them, for data already checked once
        (the model does that when data enters fit/evaluate), and then nothing
        is read to the host.
        """
        if validate:
            self._validate(logits, y)
        xp = backend.xp()
        n = logits.shape[0]
        zs = logits - logits.max(axis=1, keepdims=True)         # (N, K) shifted: max 0 per row
        e = xp.exp(zs)
        s = e.sum(axis=1, keepdims=True)                        # (N, 1)
        log_s = xp.log(s)
        self._probs = e / s                                     # softmax, (N, K)
        if y.ndim == 1:                                         # integer labels
            idx = y.reshape(-1, 1).astype(xp.int64, copy=False)  # (N, 1)
            picked = xp.take_along_axis(zs, idx, axis=1)        # (N, 1): shifted logit of the true class
            loss = (log_s - picked).sum() / n
            onehot = xp.zeros_like(zs)                          # (N, K)
            xp.put_along_axis(onehot, idx, 1.0, axis=1)
            self._targets = onehot
        else:                                                   # one-hot / soft targets
            t = y.astype(logits.dtype, copy=False)
            loss = (t * (log_s - zs)).sum() / n
            self._targets = t
        self._n = n
        return loss

    def backward(self):
        """dL/dlogits, shape (N, K)."""
        if not hasattr(self, "_probs"):
            raise RuntimeError("SoftmaxCrossEntropy: backward() called before forward().")
        return (self._probs - self._targets) * (1.0 / self._n)

    __call__ = forward

    def _validate(self, logits, y):
        """Shapes, dtypes and label range; raises before anything is computed."""
        name = "SoftmaxCrossEntropy"
        if logits.ndim != 2:
            raise ValueError(f"{name}: logits must be (batch, classes), got shape {tuple(logits.shape)}.")
        if logits.dtype.kind != "f":
            raise TypeError(f"{name}: logits must be floating point, got {logits.dtype}.")
        check_targets(backend.to_host(y), *logits.shape, name)


def check_targets(y, n, classes, where):
    """Raise a clear error, naming ``where``, unless the host array ``y`` holds targets
    for ``n`` samples of ``classes`` classes: integer labels (n,) in [0, classes), or
    one-hot (or soft) rows (n, classes) of values in [0, 1] that sum to 1."""
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{where}: y must hold integer labels (samples,) or one-hot float "
                        f"rows (samples, classes), got {type(y).__name__} of dtype {y.dtype}; "
                        "e.g. np.asarray(labels, dtype='int64').")
    if y.shape[:1] != (n,):
        rows = y.shape[0] if y.ndim else "no"
        raise ValueError(f"{where}: {n} samples but {rows} rows of targets; they must match.")
    if y.ndim == 1:
        if y.dtype.kind not in "iu":
            raise TypeError(f"{where}: 1-D labels must be integers, got {y.dtype}; convert "
                            "with y.astype('int64'), or pass one-hot rows (samples, classes).")
        if n and (y.min() < 0 or y.max() >= classes):
            raise ValueError(f"{where}: labels must be in [0, {classes - 1}] for {classes} "
                             f"classes, got values in [{y.min()}, {y.max()}].")
    elif y.ndim == 2:
        if y.shape[1] != classes:
            raise ValueError(f"{where}: one-hot targets of shape {y.shape} have {y.shape[1]} "
                             f"classes, but there are {classes} outputs ({n}, {classes}); "
                             f"use to_categorical(y, {classes}).")
        if not numpy.isfinite(y).all():
            raise ValueError(f"{where}: the targets contain NaN or inf values.")
        if n and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{where}: one-hot (or soft) targets must lie in [0, 1], got "
                             f"values in [{y.min()}, {y.max()}].")
        if n and not numpy.allclose(y.sum(axis=1), 1.0, atol=1e-3):
            raise ValueError(f"{where}: each row of one-hot (or soft) targets must sum to 1.")
    else:
        raise ValueError(f"{where}: targets must be labels (batch,) or one-hot (batch, classes), "
                         f"got shape {y.shape}.")

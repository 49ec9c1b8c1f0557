"""Softmax cross-entropy, fused and numerically stable.

For logits z (N, K) and targets t (one-hot rows, or integer labels):
    loss = mean_n [ logsumexp(z_n) - sum_k t_nk z_nk ]
    dL/dz = (softmax(z) - t) / N
Fusing softmax with the log avoids log(0) on rounded probabilities.
"""
from . import backend as B


class SoftmaxCrossEntropy:
    def forward(self, logits, y, validate=True):
        """Mean loss over the batch, as a 0-d array on the backend.

        The label checks (``validate=True``) read values to the host: one sync
        on a GPU. ``validate=False`` skips them, for data already checked once
        (the model does that when data enters fit/evaluate), and then nothing
        is read to the host.
        """
        if validate:
            self._validate(logits, y)
        xp = B.xp()
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
        xp = B.xp()
        name = "SoftmaxCrossEntropy"
        if logits.ndim != 2:
            raise ValueError(f"{name}: logits must be (batch, classes), got shape {tuple(logits.shape)}.")
        if logits.dtype.kind != "f":
            raise TypeError(f"{name}: logits must be floating point, got {logits.dtype}.")
        n, k = logits.shape
        if y.ndim == 1:
            if y.dtype.kind not in "iu":
                raise TypeError(f"{name}: 1-D labels must be integers, got {y.dtype}; "
                                "pass one-hot rows of shape (batch, classes) for float targets.")
            if y.shape[0] != n:
                raise ValueError(f"{name}: {y.shape[0]} labels for {n} logits rows.")
            lo, hi = (int(v) for v in B.to_host(xp.stack([y.min(), y.max()])))
            if lo < 0 or hi >= k:
                raise ValueError(f"{name}: labels must be in [0, {k - 1}] for {k} classes, "
                                 f"got values in [{lo}, {hi}].")
        elif y.ndim == 2:
            if tuple(y.shape) != (n, k):
                raise ValueError(f"{name}: one-hot targets of shape {tuple(y.shape)} do not "
                                 f"match logits {tuple(logits.shape)} (wrong class count?).")
            sums = B.to_host(y.sum(axis=1))
            if abs(sums - 1.0).max() > 1e-3:
                raise ValueError(f"{name}: each row of one-hot (or soft) targets must sum to 1; "
                                 f"got row sums from {sums.min():.3g} to {sums.max():.3g}.")
        else:
            raise ValueError(f"{name}: targets must be labels (batch,) or one-hot "
                             f"(batch, classes), got shape {tuple(y.shape)}.")


categorical_crossentropy = SoftmaxCrossEntropy   # Keras' name for it (compile takes either)


def get(loss):
    """A loss object from a Keras name, the class (or its Keras alias) or an instance."""
    if isinstance(loss, SoftmaxCrossEntropy):
        return loss
    if loss is SoftmaxCrossEntropy:
        return loss()
    if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy",
                "softmax_cross_entropy"):
        return SoftmaxCrossEntropy()
    raise ValueError(f"Unknown loss {loss!r}: use 'categorical_crossentropy'.")

"""The losses: what training minimises, each with its gradient, and the checks of targets.

Every loss takes the model's output z, shape (N, ...), targets y and optional
per-sample weights w, shape (N,), and computes one number per sample, l_n, then

    loss    = (1/N) sum_n w_n l_n          (w_n = 1 without weights)
    dL/dz_n = (w_n / N) dl_n/dz_n.

For the element-wise losses (squared and absolute error, binary cross-entropy,
hinge) l_n is the mean over the sample's D outputs, as Keras takes it, so each
output's gradient carries a 1/D.

Fusion. A cross-entropy after a softmax (or a sigmoid) is computed far more
stably from the values *before* the activation, the logits: log-sum-exp
never takes the log of a rounded probability. So a loss names the final
activation it can absorb (``absorbs``) and the class that takes the logits
instead (``fused``). When a model ends in that activation, ``compile`` runs the
model without it and hands the logits to the fused class; ``predict`` still
applies it. Without it, the loss works on the outputs as they are, which for
the cross-entropies means probabilities, clipped to [EPSILON, 1 - EPSILON]
as Keras clips them.

Keras' sample-weight rule (a batch's loss is sum_n w_n l_n / #{n: w_n != 0})
is applied by the model (minicnn/model/runner.py), which scales the weights
so that the formula above gives it.
"""
import numpy  # host side: the checks of the targets read a host copy

from .. import backend

EPSILON = 1e-7   # Keras 2.2's keras.backend.epsilon(): how far probabilities stay from 0 and 1


class Loss:
    """What every loss shares: the weighted mean over the batch and its gradient.

    A subclass computes the per-sample losses (``sample_losses``, caching what
    its gradient needs) and their gradient (``sample_gradients``), and checks
    its targets (``check_targets``).
    """
    name = None        # the Keras name, e.g. "mean_squared_error"
    absorbs = None     # the final activation this loss can fuse with: "softmax", "sigmoid" or None
    fused = None       # the loss class that takes the logits when it does (see the module docstring)
    per_class = False  # True: the model must output one score per class, (classes,)

    def forward(self, z, y, sample_weight=None, validate=True):
        """Mean loss over the batch, as a 0-d array on the backend.

        The checks (``validate=True``) read the targets to the host: one sync
        on a GPU. ``validate=False`` skips them, for data already checked once
        (the model does that when data enters fit/evaluate), and then nothing
        is read to the host.
        """
        if validate:
            self._validate(z, y, sample_weight)
            y = backend.to_device(self.check_targets(backend.to_host(y), z.shape[0],
                                                     tuple(z.shape[1:]), type(self).__name__))
        n = z.shape[0]
        losses = self.sample_losses(z, y)                          # (N,)
        self._n, self._weights = n, sample_weight
        if sample_weight is None:
            return losses.sum() / n
        return (sample_weight * losses).sum() / n

    def backward(self):
        """dL/dz, shaped like z."""
        if not hasattr(self, "_n"):
            raise RuntimeError(f"{type(self).__name__}: backward() called before forward().")
        g = self.sample_gradients()                                # dl_n/dz, (N, ...)
        if self._weights is None:
            return g * (1.0 / self._n)
        scale = self._weights * (1.0 / self._n)                    # (N,)
        return g * scale.reshape((-1,) + (1,) * (g.ndim - 1))

    __call__ = forward

    def predictions(self):
        """The model's outputs for the last forward's batch: probabilities for a fused
        loss (the activation it absorbed, applied), else its input as it was."""
        return self._z

    def sample_losses(self, z, y):
        raise NotImplementedError

    def sample_gradients(self):
        raise NotImplementedError

    def check_targets(self, y, n, output_shape, where):
        """Host targets ``y`` for n samples of outputs ``output_shape``, checked and in the
        form sample_losses takes; a clear error naming ``where`` otherwise."""
        return same_shape_targets(y, n, output_shape, where)

    def get_config(self):
        return {}

    def _validate(self, z, y, sample_weight):
        name = type(self).__name__
        if z.ndim < 2 or (self.per_class and z.ndim != 2):
            shape = "(batch, classes)" if self.per_class else "(batch, ...)"
            raise ValueError(f"{name}: outputs must be {shape}, got shape {tuple(z.shape)}.")
        if z.dtype.kind != "f":
            raise TypeError(f"{name}: outputs must be floating point, got {z.dtype}.")
        if sample_weight is not None and tuple(sample_weight.shape) != (z.shape[0],):
            raise ValueError(f"{name}: sample_weight must have shape ({z.shape[0]},), one "
                             f"weight per sample, got {tuple(sample_weight.shape)}.")


def _mean_per_sample(a):
    """(N, ...) -> (N,): each sample's mean over its outputs."""
    return a.reshape(a.shape[0], -1).mean(axis=1)


def _one_hot(labels, like):
    """Integer labels (N,) as one-hot rows shaped and typed like ``like`` (N, K)."""
    xp = backend.xp()
    onehot = xp.zeros_like(like)
    xp.put_along_axis(onehot, labels.reshape(-1, 1).astype(xp.int64, copy=False), 1.0, axis=1)
    return onehot


# ---- cross-entropy over classes ----------------------------------------------------
class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy on logits, fused and numerically stable.

    For logits z (N, K) and targets t (one-hot rows, or integer labels):
        l_n   = logsumexp(z_n) - sum_k t_nk z_nk
        dl/dz = softmax(z) - t
    Fusing softmax with the log avoids log(0) on rounded probabilities.
    """
    name = "categorical_crossentropy"
    absorbs = "softmax"
    per_class = True

    def sample_losses(self, logits, y):
        xp = backend.xp()
        zs = logits - logits.max(axis=1, keepdims=True)         # (N, K) shifted: max 0 per row
        e = xp.exp(zs)
        s = e.sum(axis=1, keepdims=True)                        # (N, 1)
        log_s = xp.log(s)
        self._probs = e / s                                     # softmax, (N, K)
        if y.ndim == 1:                                         # integer labels
            idx = y.reshape(-1, 1).astype(xp.int64, copy=False)  # (N, 1)
            picked = xp.take_along_axis(zs, idx, axis=1)        # (N, 1): shifted logit of the true class
            self._targets = _one_hot(y, zs)                     # (N, K), for backward
            return (log_s - picked).reshape(-1)                 # (N,)
        t = y.astype(logits.dtype, copy=False)                  # one-hot / soft targets
        self._targets = t
        return (t * (log_s - zs)).sum(axis=1)                   # (N,)

    def sample_gradients(self):
        return self._probs - self._targets                     # (N, K)

    def predictions(self):
        return self._probs

    def check_targets(self, y, n, output_shape, where):
        return class_targets(y, n, output_shape, where)


SoftmaxCrossEntropy.fused = SoftmaxCrossEntropy     # it takes the logits already


class CategoricalCrossentropy(Loss):
    """Cross-entropy on probabilities p (N, K), as Keras computes it without a softmax:

        q     = clip(p / sum_k p_k, EPSILON, 1 - EPSILON)     (rows rescaled to sum to 1)
        l_n   = -sum_k t_nk log q_nk
        dl/dp_j = (g_j - sum_k g_k p_k / s) / s,  g_k = -t_k / q_k  where q_k was not clipped,
                                                  0 where it was;  s = sum_k p_k.

    After a softmax, compile hands the logits to SoftmaxCrossEntropy instead (``fused``).
    """
    name = "categorical_crossentropy"
    absorbs = "softmax"
    fused = SoftmaxCrossEntropy
    per_class = True

    def sample_losses(self, p, y):
        xp = backend.xp()
        s = p.sum(axis=1, keepdims=True)                        # (N, 1)
        q = p / s                                               # (N, K)
        inside = (q >= EPSILON) & (q <= 1.0 - EPSILON)          # where the clip lets q through
        q = xp.clip(q, EPSILON, 1.0 - EPSILON)
        t = _one_hot(y, p) if y.ndim == 1 else y.astype(p.dtype, copy=False)
        self._z, self._s, self._q, self._t, self._inside = p, s, q, t, inside
        return -(t * xp.log(q)).sum(axis=1)                     # (N,)

    def sample_gradients(self):
        p, s = self._z, self._s
        g = -self._t / self._q * self._inside                   # dl/dq, (N, K)
        return (g - (g * p).sum(axis=1, keepdims=True) / s) / s

    def check_targets(self, y, n, output_shape, where):
        return class_targets(y, n, output_shape, where)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Keras' name for the cross-entropy with integer labels; minicnn's cross-entropy
    takes labels (N,) or (N, 1) and one-hot rows alike."""
    name = "sparse_categorical_crossentropy"


# ---- binary cross-entropy ------------------------------------------------------------
class SigmoidBinaryCrossentropy(Loss):
    """Binary cross-entropy on logits z, fused with the sigmoid and numerically stable.

    Per output, with p = sigmoid(z) and a target t in [0, 1]:
        -t log p - (1 - t) log(1 - p) = max(z, 0) - z t + log(1 + exp(-|z|))
        d/dz                          = p - t
    (the right-hand form never takes the log of a rounded p, nor exp of a large
    number); l_n is the mean over the sample's D outputs, so dl_n/dz = (p - t) / D.
    """
    name = "binary_crossentropy"
    absorbs = "sigmoid"

    def sample_losses(self, z, y):
        xp = backend.xp()
        e = xp.exp(-xp.abs(z))                                  # in (0, 1]: no overflow
        self._probs = xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))   # sigmoid(z), stable
        self._t = y
        return _mean_per_sample(xp.maximum(z, 0) - z * y + xp.log1p(e))

    def sample_gradients(self):
        d = self._probs[0].size                                 # outputs per sample
        return (self._probs - self._t) * (1.0 / d)

    def predictions(self):
        return self._probs

    def check_targets(self, y, n, output_shape, where):
        return same_shape_targets(y, n, output_shape, where, probabilities=True)


SigmoidBinaryCrossentropy.fused = SigmoidBinaryCrossentropy


class BinaryCrossentropy(Loss):
    """Binary cross-entropy on probabilities p, as Keras computes it without a sigmoid:

        q     = clip(p, EPSILON, 1 - EPSILON)
        l     = -t log q - (1 - t) log(1 - q)        per output; l_n its mean over D outputs
        dl/dp = (q - t) / (q (1 - q)) / D            where p was not clipped, else 0.

    After a sigmoid, compile hands the logits to SigmoidBinaryCrossentropy instead.
    """
    name = "binary_crossentropy"
    absorbs = "sigmoid"
    fused = SigmoidBinaryCrossentropy

    def sample_losses(self, p, y):
        xp = backend.xp()
        self._z, self._t = p, y
        self._inside = (p >= EPSILON) & (p <= 1.0 - EPSILON)
        q = self._q = xp.clip(p, EPSILON, 1.0 - EPSILON)
        return _mean_per_sample(-y * xp.log(q) - (1.0 - y) * xp.log(1.0 - q))

    def sample_gradients(self):
        q, d = self._q, self._q[0].size
        return (q - self._t) / (q * (1.0 - q)) * self._inside * (1.0 / d)

    def check_targets(self, y, n, output_shape, where):
        return same_shape_targets(y, n, output_shape, where, probabilities=True)


# ---- regression ------------------------------------------------------------------------
class MeanSquaredError(Loss):
    """l_n = mean over outputs of (z - t)^2;   dl_n/dz = 2 (z - t) / D."""
    name = "mean_squared_error"

    def sample_losses(self, z, y):
        self._z, self._diff = z, z - y
        return _mean_per_sample(self._diff * self._diff)

    def sample_gradients(self):
        return self._diff * (2.0 / self._diff[0].size)


class MeanAbsoluteError(Loss):
    """l_n = mean over outputs of |z - t|;   dl_n/dz = sign(z - t) / D  (0 where z = t)."""
    name = "mean_absolute_error"

    def sample_losses(self, z, y):
        self._z, self._diff = z, z - y
        return _mean_per_sample(backend.xp().abs(self._diff))

    def sample_gradients(self):
        return backend.xp().sign(self._diff) * (1.0 / self._diff[0].size)


# ---- hinge losses (targets -1 or 1, as in Keras 2.2) ----------------------------------
class Hinge(Loss):
    """l_n = mean over outputs of max(1 - t z, 0);   dl_n/dz = -t [1 - t z > 0] / D.
    Targets are -1 or 1 (Keras 2.2 does not convert 0/1 labels)."""
    name = "hinge"

    def sample_losses(self, z, y):
        self._z, self._t = z, y
        self._margin = backend.xp().maximum(1.0 - y * z, 0)
        return _mean_per_sample(self._margin)

    def sample_gradients(self):
        return -self._t * (self._margin > 0) * (1.0 / self._z[0].size)


class SquaredHinge(Hinge):
    """l_n = mean over outputs of max(1 - t z, 0)^2;   dl_n/dz = -2 t max(1 - t z, 0) / D."""
    name = "squared_hinge"

    def sample_losses(self, z, y):
        super().sample_losses(z, y)
        return _mean_per_sample(self._margin * self._margin)

    def sample_gradients(self):
        return -2.0 * self._t * self._margin * (1.0 / self._z[0].size)


class CategoricalHinge(Loss):
    """For one-hot targets t (N, K):
        pos = sum_k t_k z_k,  neg = max_k (1 - t_k) z_k,  l_n = max(neg - pos + 1, 0);
        dl_n/dz = [l_n > 0] ((1 - t_j) e_j - t), e_j the one-hot row of the j reaching neg."""
    name = "categorical_hinge"
    per_class = True

    def sample_losses(self, z, y):
        xp = backend.xp()
        t = _one_hot(y, z) if y.ndim == 1 else y.astype(z.dtype, copy=False)
        others = (1.0 - t) * z                                  # (N, K)
        pos, neg = (t * z).sum(axis=1), others.max(axis=1)      # (N,) each
        self._z, self._t = z, t
        self._top = _one_hot(others.argmax(axis=1), z)          # (N, K): where neg came from
        losses = xp.maximum(neg - pos + 1.0, 0)
        self._active = (losses > 0).reshape(-1, 1)              # (N, 1)
        return losses

    def sample_gradients(self):
        return (self._top * (1.0 - self._t) - self._t) * self._active

    def check_targets(self, y, n, output_shape, where):
        return class_targets(y, n, output_shape, where)


# ---- the checks of targets (host side) --------------------------------------------------
def class_targets(y, n, output_shape, where):
    """Targets of a per-class loss: integer labels (n,) or (n, 1), or one-hot (or soft)
    rows (n, classes); returned as int64 labels (n,) or floatx rows."""
    if y.ndim == 2 and y.shape[1] == 1 and y.dtype.kind in "iu" and output_shape[-1] != 1:
        y = y.reshape(-1)                                        # Keras' sparse form (n, 1)
    check_targets(y, n, output_shape[-1], where)
    return y.astype(numpy.int64) if y.ndim == 1 else y.astype(backend.floatx())


def same_shape_targets(y, n, output_shape, where, probabilities=False):
    """Targets shaped like the outputs, (n,) + output_shape ((n,) is taken for outputs
    (1,)); finite numbers, in [0, 1] if ``probabilities``; returned as floatx."""
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{where}: y must hold numbers, got dtype {y.dtype}; convert it "
                        f"with y.astype('{backend.floatx()}').")
    expected = (n,) + tuple(output_shape)
    if y.shape[:1] != (n,):
        rows = y.shape[0] if y.ndim else "no"
        raise ValueError(f"{where}: {n} samples but {rows} rows of targets; they must match.")
    if tuple(y.shape) == (n,) and tuple(output_shape) == (1,):
        y = y.reshape(n, 1)
    if tuple(y.shape) != expected:
        raise ValueError(f"{where}: targets of shape {tuple(y.shape)} do not match the "
                         f"model's outputs {expected}; give one target per output.")
    y = y.astype(backend.floatx())
    if not numpy.isfinite(y).all():
        raise ValueError(f"{where}: the targets contain NaN or inf values.")
    if probabilities and n and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{where}: binary cross-entropy targets must lie in [0, 1], got "
                         f"values in [{y.min()}, {y.max()}].")
    return y


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

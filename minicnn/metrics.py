"""Metrics: numbers fit and evaluate report beside the loss, under Keras 2.2's names.

``compile(metrics=[...])`` takes, as Keras does:

    "accuracy" / "acc"   logged as "acc": binary accuracy for a model with one output
                         per sample or a binary cross-entropy loss, else categorical
                         accuracy (which takes integer labels and one-hot rows alike);
    "crossentropy" / "ce"  logged as "ce": the matching cross-entropy;
    "categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy",
    "top_k_categorical_accuracy" (k=5), "sparse_top_k_categorical_accuracy" (k=5);
    "mse" / "mae" (logged as "mean_squared_error" / "mean_absolute_error") and the
    other loss names of minicnn.losses, computed on the model's outputs;
    a function f(y_true, y_pred), logged under its __name__.

A metric is a function (y_true, y_pred) -> one value per sample, on device
arrays (``backend.xp()``): y_true as the loss takes the targets (integer labels
(N,) or rows (N, K) for the cross-entropies; shaped like the outputs for the
others), y_pred the model's outputs (probabilities after a softmax or sigmoid).
The model adds the values up on the device, batch after batch, and reads the
sums once per epoch; the logged value is their mean over the samples. A
function of yours may also return per-output values (N, ...), which are
averaged per sample, or one number for the batch (its mean), which counts once
per sample.
"""
from . import backend
from . import losses as losses_module


def _labels(y_true):
    """Class indices (N,) of targets given as labels (N,) or (N, 1), or as rows (N, K)."""
    if y_true.ndim == 2 and y_true.shape[1] == 1:
        return y_true.reshape(-1)
    return y_true if y_true.ndim == 1 else y_true.argmax(axis=-1)


def _dense(y_true, y_pred):
    """Targets shaped like the predictions: integer labels become one-hot rows."""
    if y_true.ndim == 1 and y_pred.ndim == 2 and y_pred.shape[1] > 1:
        xp = backend.xp()
        onehot = xp.zeros_like(y_pred)
        xp.put_along_axis(onehot, y_true.reshape(-1, 1).astype(xp.int64, copy=False), 1.0, axis=1)
        return onehot
    return y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true


def _as_floats(a):
    return a.astype(backend.floatx())


def categorical_accuracy(y_true, y_pred):
    """1 where the top-scoring class is the true one, else 0 (ties: the first index)."""
    return _as_floats(_labels(y_true) == y_pred.argmax(axis=-1))


def sparse_categorical_accuracy(y_true, y_pred):
    """categorical_accuracy for integer labels (N,) or (N, 1)."""
    return categorical_accuracy(y_true, y_pred)


def binary_accuracy(y_true, y_pred):
    """The share of outputs whose rounded prediction equals the 0/1 target, per sample."""
    right = _dense(y_true, y_pred) == backend.xp().round(y_pred)
    return _as_floats(right).reshape(right.shape[0], -1).mean(axis=1)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the true class is among the k highest scores (a tie at the boundary
    counts as in, as Keras' in_top_k has it), else 0."""
    xp = backend.xp()
    labels = _labels(y_true).astype(xp.int64, copy=False).reshape(-1, 1)   # (N, 1)
    true_score = xp.take_along_axis(y_pred, labels, axis=1)                 # (N, 1)
    higher = (y_pred > true_score).sum(axis=1)                              # (N,)
    return _as_floats(higher < k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """top_k_categorical_accuracy for integer labels (N,) or (N, 1)."""
    return top_k_categorical_accuracy(y_true, y_pred, k)


class LossMetric:
    """A loss reported as a metric: its per-sample values on the model's outputs."""

    def __init__(self, loss_class, name=None):
        self.loss_class = loss_class
        self.name = name or loss_class.name

    def __call__(self, y_true, y_pred):
        loss = self.loss_class()
        if not loss.per_class:
            y_true = _as_floats(_dense(y_true, y_pred))
        return loss.sample_losses(y_pred, y_true)


mean_squared_error = mse = LossMetric(losses_module.MeanSquaredError)
mean_absolute_error = mae = LossMetric(losses_module.MeanAbsoluteError)

_FUNCTIONS = {f.__name__: f for f in (categorical_accuracy, sparse_categorical_accuracy,
                                      binary_accuracy, top_k_categorical_accuracy,
                                      sparse_top_k_categorical_accuracy)}
_LOSS_NAMES = {"categorical_crossentropy", "sparse_categorical_crossentropy",
               "binary_crossentropy", "mean_squared_error", "mse", "mean_absolute_error", "mae",
               "hinge", "squared_hinge", "categorical_hinge"}


def get(identifier, loss=None, output_shape=None):
    """A metric from a Keras name (see the module docstring) or a function; ``loss`` (the
    model's loss object) and ``output_shape`` (per sample) choose what "accuracy" and
    "crossentropy" mean. Returns a callable with a ``name``: what the logs call it."""
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc", "crossentropy", "ce"):
            binary = (output_shape is not None and tuple(output_shape)[-1:] == (1,)) or \
                getattr(loss, "name", None) == "binary_crossentropy"
            if identifier in ("accuracy", "acc"):
                return _named(binary_accuracy if binary else categorical_accuracy, "acc")
            return LossMetric(losses_module.BinaryCrossentropy if binary
                              else losses_module.CategoricalCrossentropy, "ce")
        if identifier in _FUNCTIONS:
            return _named(_FUNCTIONS[identifier], identifier)
        if identifier.lower() in _LOSS_NAMES:
            loss_class = type(losses_module.get(identifier.lower()))
            return LossMetric(loss_class)
        known = ["accuracy", "acc", "crossentropy", "ce"] + sorted(_FUNCTIONS) + sorted(_LOSS_NAMES)
        raise ValueError(f"compile: unknown metric {identifier!r}; use one of {', '.join(known)}, "
                         "or a function f(y_true, y_pred) returning one value per sample.")
    if callable(identifier):
        name = getattr(identifier, "name", None) or getattr(identifier, "__name__", None)
        if not isinstance(name, str):
            name = type(identifier).__name__
        return _named(identifier, name)
    raise ValueError(f"compile: a metric must be a name such as 'accuracy' or a function "
                     f"f(y_true, y_pred), got {identifier!r}.")


class _named:
    """A metric function logged under ``name``."""

    def __init__(self, function, name):
        self.function, self.name = function, name

    def __call__(self, y_true, y_pred):
        return self.function(y_true, y_pred)


def sample_sum(metric, y_true, y_pred):
    """The metric's values for a batch, added up over its samples: a 0-d floatx device
    array (what the model accumulates). A per-output result is averaged per sample; a
    single number is taken as the batch's mean."""
    values = metric(y_true, y_pred)
    n = y_pred.shape[0]
    if getattr(values, "ndim", 0) == 0:
        return backend.xp().asarray(values, dtype=backend.floatx()) * n
    if values.shape[0] != n:
        raise ValueError(f"metric {getattr(metric, 'name', metric)!r} returned shape "
                         f"{tuple(values.shape)} for a batch of {n}; return one value per sample.")
    values = values.reshape(n, -1)
    if values.shape[1] != 1:
        values = values.mean(axis=1)
    return values.sum(dtype=backend.floatx())

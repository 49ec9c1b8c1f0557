"""Looking inside a model: what each layer outputs and passes back, and batch-norm statistics
estimated again.

``layer_outputs(model, x, y)`` runs one forward and backward pass as a training step does
(no optimiser step) and returns, per layer, its output and the gradient of the loss with
respect to that output, as host arrays. ``activation_statistics`` sums them up in a few
numbers per layer: the mean and spread of the outputs, the share of exact zeros (a ReLU's
"off" units, or dropped ones), and the spread of the gradients. Both leave the model as
they found it: weights, batch-norm moving statistics and the dropout generator are put
back afterwards.

``confusion_matrix(labels, predictions, classes)`` counts which class is taken for which.

``recompute_batch_norm_statistics(model, x)`` replaces every batch norm's moving mean and
variance by the mean and variance of what reaches it over ``x``, with the model in
inference mode (dropout off, the batch norms before it on their new statistics). After a
short run the moving averages still remember their starting values (0 and 1): with
momentum 0.99 and 48 steps, 0.99**48 = 62% of each moving statistic is still its initial
value. docs/batchnorm_lag.md shows what that does to a model's test accuracy.
"""

import numpy as np  # host side: statistics handed back to the user

from . import backend
from .model import checks
from .model.runner import ends_in_softmax
from .nn.losses import SoftmaxCrossEntropy
from .nn.normalization import BatchNormalization


def layer_outputs(model, x, y=None, training=True):
    """One forward pass (and, with labels ``y``, one backward pass) through ``model``.

    Runs the layers as a training step does (``training=True``: batch norms on the batch's
    statistics, dropout on) or as inference does (``training=False``). A final softmax is
    fused into the loss as ``compile`` fuses it, so the last row's output is the logits.
    ``y``: integer labels (N,) or one-hot rows (N, K); without it there is no backward pass.

    Returns (rows, loss): one dict per layer run, with ``name``, ``type``, ``output`` (a host
    array, batch axis first) and ``grad`` (dL/d output, a host array, or None without
    ``y``); ``loss`` is the mean cross-entropy as a float (None without ``y``). The model's
    weights, moving statistics and dropout generator are restored afterwards.
    """
    model.build()
    x = checks.check_x(x, model.input_shape, "layer_outputs")
    layers = model.layers[:-1] if ends_in_softmax(model.layers) else list(model.layers)
    targets = None
    if y is not None:
        targets, _ = checks.check_y(y, int(x.shape[0]), model.output_shape[-1], "layer_outputs")
    weights = model.get_weights()
    rng_state = backend.rng_state()
    try:
        outputs, h = [], x
        for layer in layers:
            h = layer.forward(h, training=training)
            outputs.append(backend.to_host(h).copy())
        grads, loss = [None] * len(layers), None
        if targets is not None:
            loss_fn = SoftmaxCrossEntropy()
            loss = float(backend.to_host(loss_fn.forward(h, targets, validate=False)))
            g = loss_fn.backward()
            for i in range(len(layers) - 1, -1, -1):
                grads[i] = backend.to_host(g).copy()
                if i > 0:
                    g = layers[i].backward(g)
    finally:
        model.set_weights(weights)
        backend.set_rng_state(rng_state)
    rows = [dict(name=layer.name, type=getattr(layer, "type_name", type(layer).__name__),
                 output=out, grad=grad) for layer, out, grad in zip(layers, outputs, grads)]
    return rows, loss


def activation_statistics(model, x, y=None, training=True):
    """Per layer: how large its outputs are and how large the gradients that reach them are.

    Runs ``layer_outputs(model, x, y, training)`` and returns (rows, loss), one dict per
    layer with ``name``, ``type``, ``mean`` and ``std`` of the outputs, ``zeros`` (the
    fraction of outputs that are exactly 0) and ``grad_std`` (the standard deviation of
    dL/d output; None without ``y``), all Python floats. A healthy fresh network keeps
    ``std`` of the same order from layer to layer, forward, and ``grad_std`` likewise,
    backward; ``loss`` should be near ln(classes) (2.30 for 10 classes).
    """
    rows, loss = layer_outputs(model, x, y, training)
    stats = []
    for row in rows:
        out = row["output"].astype(np.float64)
        grad = row["grad"]
        stats.append(dict(name=row["name"], type=row["type"], mean=float(out.mean()),
                          std=float(out.std()), zeros=float(np.mean(out == 0)),
                          grad_std=None if grad is None else float(grad.astype(np.float64).std())))
    return stats, loss


def format_statistics(rows, loss=None):
    """The rows of ``activation_statistics`` as a printable table."""
    widths = (24, 20, 10, 10, 8, 11)
    lines = ["".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                     enumerate(zip(("layer", "type", "mean", "std", "zeros", "grad std"),
                                   widths)))]
    for r in rows:
        grad = "-" if r["grad_std"] is None else f"{r['grad_std']:.2e}"
        cells = (r["name"], r["type"], f"{r['mean']:.3f}", f"{r['std']:.3f}",
                 f"{100 * r['zeros']:.0f}%", grad)
        lines.append("".join(c[:w - 1].ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))))
    if loss is not None:
        lines.append(f"loss {loss:.4f}")
    return "\n".join(lines)


def confusion_matrix(labels, predictions, classes):
    """counts[t, p]: how many samples of true class t were predicted as p, an int (K, K)
    host array; ``labels`` and ``predictions`` are integer classes (N,), host or device."""
    labels = np.asarray(backend.to_host(labels)).astype(np.int64).ravel()
    predictions = np.asarray(backend.to_host(predictions)).astype(np.int64).ravel()
    if labels.shape != predictions.shape:
        raise ValueError(f"confusion_matrix: {labels.size} labels but {predictions.size} "
                         "predictions.")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= classes):
            raise ValueError(f"confusion_matrix: {name} must be classes 0..{classes - 1}, got "
                             f"values from {values.min()} to {values.max()}.")
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def recompute_batch_norm_statistics(model, x, batch_size=256):
    """Set every batch norm's moving mean and variance to the statistics of its input over ``x``.

    The batch norms are taken in order. For each one, ``x`` runs through the layers before
    it in inference mode (dropout off, earlier batch norms on their new statistics), in
    batches of ``batch_size``; the per-channel mean and variance (unbiased, as the moving
    variance is) of everything that reaches the batch norm replace its moving statistics,
    in place. Give it training images, not the images you test on.

    Returns {batch norm name: (old mean, old variance, new mean, new variance)}, host arrays.
    Raises before changing anything if the model has no batch norm or ``x`` does not fit.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("recompute_batch_norm_statistics: batch_size must be a positive int, "
                         f"got {batch_size!r}.")
    model.build()
    norms = [i for i, layer in enumerate(model.layers) if isinstance(layer, BatchNormalization)]
    if not norms:
        raise ValueError("recompute_batch_norm_statistics: the model has no "
                         "BatchNormalization layer; there is nothing to recompute.")
    x = checks.check_x(x, model.input_shape, "recompute_batch_norm_statistics")
    n = int(x.shape[0])
    xp = backend.xp()
    changes = {}
    for index in norms:
        norm = model.layers[index]
        total = total_squares = None
        count = 0
        for start in range(0, n, batch_size):
            h = x[start:start + batch_size]
            for layer in model.layers[:index]:
                h = layer.forward(h, training=False)
            h2 = h.reshape(-1, h.shape[-1]).astype(xp.float64)         # (M, C), sums in float64
            part, part_squares = h2.sum(axis=0), (h2 * h2).sum(axis=0)
            total = part if total is None else total + part
            total_squares = part_squares if total_squares is None else total_squares + part_squares
            count += int(h2.shape[0])
        if count < 2:
            raise ValueError(f"recompute_batch_norm_statistics: {norm.name} sees {count} value "
                             "per channel; pass more images.")
        mean = total / count
        variance = xp.maximum(total_squares / count - mean * mean, 0.0) * (count / (count - 1.0))
        old = (backend.to_host(norm.state["moving_mean"]).copy(),
               backend.to_host(norm.state["moving_variance"]).copy())
        norm.state["moving_mean"][...] = mean.astype(norm.state["moving_mean"].dtype)
        norm.state["moving_variance"][...] = variance.astype(norm.state["moving_variance"].dtype)
        changes[norm.name] = old + (backend.to_host(mean), backend.to_host(variance))
    return changes

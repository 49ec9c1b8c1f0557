"""Where a training step spends its time, layer by layer.

``profile(model, x)`` runs what one step of ``fit`` runs on the batch x,
    forward through every layer (training=True), the loss, backward in reverse,
and times each piece: one warm-up step, then the median of ``repeats`` steps.
There is no optimiser step, and the weights, batch-norm statistics and the
dropout generator (NumPy) are put back afterwards, so profiling leaves the
model as it found it. On CuPy the device is synchronised around every piece:
GPU work is asynchronous, and without that the time would land on whichever
later call happens to wait for it.
"""
import statistics
import time

import numpy as np  # host side: random labels, the timing table

from . import backend
from .model import checks
from .model.runner import ends_in_softmax
from .nn.losses import SoftmaxCrossEntropy


def profile(model, x, y=None, repeats=5):
    """Time one training step on the batch ``x`` (labels ``y``; random ones if None).

    Returns one dict per layer of ``model``, in order: ``name``, ``type``,
    ``output_shape`` (batch axis included), ``forward_ms``, ``backward_ms``
    (medians over ``repeats`` steps) and ``share`` (% of the whole step).
    A compiled model is timed with its own loss, the final activation that loss
    absorbs (as ``compile`` fuses it) timed as the loss: its row holds the loss's
    forward and backward; otherwise the row "loss" is the loss alone. An
    uncompiled model gets the softmax cross-entropy.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"profile: repeats must be a positive int, got {repeats!r}.")
    model.build()
    x = checks.check_x(x, model.input_shape, "profile")
    n = x.shape[0]
    k = model.output_shape[-1]
    if y is None:
        y = np.random.default_rng(0).integers(0, k, size=n)  # own generator: the backend's stay untouched
    targets, _ = checks.check_y(y, n, k, "profile")
    last = model.layers[-1]
    if model.runner.loss is not None:         # compiled: the loss and the layers fit trains
        loss, layers, fused = model.runner.loss, model.runner.logit_layers, model.runner.fused
    else:                                     # not yet: the usual softmax cross-entropy
        fused = ends_in_softmax(model.layers)
        layers = model.layers[:-1] if fused else model.layers
        loss = SoftmaxCrossEntropy()

    weights = model.get_weights()
    rng_state = backend.rng_state()
    first = model.layers[0]
    input_grad = getattr(first, "compute_input_grad", None)
    if input_grad is not None:
        first.compute_input_grad = False       # as compile sets it: dL/d(images) is never used
    try:
        _step(layers, loss, x, targets)        # warm-up: workspaces, caches, lazy kernels
        runs = [_step(layers, loss, x, targets) for _ in range(repeats)]
    finally:
        if input_grad is not None:
            first.compute_input_grad = input_grad
        model.set_weights(weights)
        backend.set_rng_state(rng_state)

    fwd = [statistics.median(r[0][i] for r in runs) for i in range(len(layers) + 1)]
    bwd = [statistics.median(r[1][i] for r in runs) for i in range(len(layers) + 1)]
    total = sum(fwd) + sum(bwd)
    rows = []
    for i, layer in enumerate(layers):
        layer = getattr(layer, "layer", layer)          # a last layer run without its activation
        rows.append(_row(layer.name, getattr(layer, "type_name", type(layer).__name__),
                         (n,) + tuple(layer.output_shape), fwd[i], bwd[i], total))
    if fused:
        rows.append(_row(last.name, f"{type(last).__name__}+loss (fused)",
                         (n,) + tuple(last.output_shape), fwd[-1], bwd[-1], total))
    else:
        rows.append(_row("loss", type(loss).__name__, (), fwd[-1], bwd[-1], total))
    return rows


def format_profile(rows):
    """The rows of ``profile`` as a printable table, with totals."""
    widths = (22, 28, 20, 11, 12, 8)
    head = ("Layer", "Type", "Output shape", "Forward ms", "Backward ms", "Share")
    line = "-" * sum(widths)
    out = [_cells(head, widths), line]
    for r in rows:
        shape = str(r["output_shape"]) if r["output_shape"] else "scalar"
        out.append(_cells((r["name"], r["type"], shape, f"{r['forward_ms']:.3f}",
                           f"{r['backward_ms']:.3f}", f"{r['share']:.1f}%"), widths))
    fwd = sum(r["forward_ms"] for r in rows)
    bwd = sum(r["backward_ms"] for r in rows)
    out += [line, _cells(("Total (one step)", "", "", f"{fwd:.3f}", f"{bwd:.3f}",
                          f"{sum(r['share'] for r in rows):.1f}%"), widths)]
    shape = next((r["output_shape"] for r in rows if r["output_shape"]), None)
    if shape and fwd + bwd > 0:
        out.append(f"{fwd + bwd:.1f} ms per step of {shape[0]} images, about "
                   f"{1000.0 * shape[0] / (fwd + bwd):,.0f} images/s (no optimiser step; "
                   f"backend {backend.get_backend()})")
    return "\n".join(out)


# ---- helpers ----------------------------------------------------------------
def _step(layers, loss, x, targets):
    """One forward + loss + backward; returns ([forward ms], [backward ms]), loss last."""
    fwd, bwd = [], []
    h = x
    for layer in layers:
        backend.synchronize()
        t0 = time.perf_counter()
        h = layer.forward(h, training=True)
        backend.synchronize()
        fwd.append(1000.0 * (time.perf_counter() - t0))
    t0 = time.perf_counter()
    loss.forward(h, targets, validate=False)
    backend.synchronize()
    fwd.append(1000.0 * (time.perf_counter() - t0))
    t0 = time.perf_counter()
    g = loss.backward()
    backend.synchronize()
    loss_bwd = 1000.0 * (time.perf_counter() - t0)
    for layer in reversed(layers):
        t0 = time.perf_counter()
        g = layer.backward(g)
        backend.synchronize()
        bwd.append(1000.0 * (time.perf_counter() - t0))
    bwd.reverse()
    bwd.append(loss_bwd)
    return fwd, bwd


def _row(name, kind, shape, fwd, bwd, total):
    return dict(name=name, type=kind, output_shape=tuple(int(d) for d in shape),
                forward_ms=fwd, backward_ms=bwd,
                share=100.0 * (fwd + bwd) / total if total > 0 else 0.0)


def _cells(cells, widths):
    return "".join(str(c)[:w - 1].ljust(w) if i < 3 else str(c).rjust(w - 1) + " "
                   for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

"""Draw every picture of the course into docs/img/, from the library's own arrays.

    python docs/make_pictures.py                 # all of them (a few minutes on 2 cores)
    python docs/make_pictures.py --only diagrams # the diagrams alone: no training, seconds

The diagrams (the sliding window, im2col's columns, the receptive field, max pooling's
gradient, batch norm on one channel, the schedules, the step size of a central difference)
run the library's functions on small arrays and draw what they return. The pictures of a
trained model come from PICTURE_RUN, one short run of Go Crazy trained here; the batch-norm
lag pictures from SHORT_RUN, the run of `python examples/assignment4.py --limit 3000
--epochs 2`. Each run's figures are written to docs/img/runs.json, which the pages quote
(tests/test_docs.py checks that they agree, and recomputes SHORT_RUN itself).
"""
import argparse
import contextlib
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import assignment4  # noqa: E402
import numpy as np  # noqa: E402  (host side: pictures)

import minicnn  # noqa: E402
from minicnn import backend, diagnostics, fast, nn, viz  # noqa: E402
from minicnn.callbacks import Callback, LearningRateScheduler  # noqa: E402
from minicnn.im2col import im2col  # noqa: E402
from minicnn.schedules import cosine_decay, exponential_decay, inverse_time_decay, one_cycle, step_decay  # noqa: E402

IMG = os.path.join(HERE, "img")
RUNS = os.path.join(IMG, "runs.json")

# The run behind the pictures of a trained model: Go Crazy as the assignment trains it
# (Adam, lr 0.003 / (1 + 0.319 epoch), batch 128), on the first `train` training images,
# the next `validation` ones held out to choose by, and the test set looked at once, at the end.
PICTURE_RUN = dict(seed=0, train=15000, validation=5000, epochs=4)
# `python examples/assignment4.py --limit 3000 --epochs 2`: 24 batches an epoch, 48 steps.
SHORT_RUN = dict(seed=0, limit=3000, epochs=2)


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(plt, fig, name):
    path = os.path.join(IMG, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {os.path.relpath(path, ROOT)}")
    return path


# ---- the runs ---------------------------------------------------------------------------
class MovingStatistics(Callback):
    """After every step: the moving mean of every batch norm (host copies)."""

    def on_train_begin(self, logs=None):
        self.steps = []

    def on_batch_end(self, batch, logs=None):
        self.steps.append({layer.name: backend.to_host(layer.state["moving_mean"]).copy()
                           for layer in self.model.layers
                           if isinstance(layer, nn.BatchNormalization)})


@contextlib.contextmanager
def steady_arithmetic(processes=2, threads=1):
    """Every step split over ``processes`` processes and ``threads`` threads each, whatever
    the machine's load: a seed then gives bit-identical runs. (By default the process team
    runs steps in one process while other programs keep the cores busy, which rounds
    differently: minicnn/fast/team.py.) The settings are put back afterwards."""
    from minicnn.fast import team
    from minicnn.fast import threads as fast_threads
    saved_processes, saved_threads = team._processes, fast_threads.chosen_threads()
    try:
        fast.set_processes(processes)
        fast.set_threads(threads)
        yield
    finally:
        team._processes = saved_processes
        fast_threads.restore_threads(saved_threads)


def short_run(limit=SHORT_RUN["limit"], epochs=SHORT_RUN["epochs"], seed=SHORT_RUN["seed"],
              callbacks=()):
    """What `python examples/assignment4.py --limit 3000 --epochs 2` trains: Go Crazy on the
    first 3,000 training images, validated on the 10,000 test images after each epoch, with
    the two processes of a 2-core machine and one thread each (steady_arithmetic).
    Returns (model, history, data)."""
    minicnn.seed(seed)
    data = assignment4.load_mnist(limit)
    (x_train, y_train), (x_test, y_test) = data
    model = assignment4.build_model("go-crazy")
    with steady_arithmetic():
        history = model.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=0,
                            validation_data=(x_test, y_test),
                            callbacks=[LearningRateScheduler(assignment4.inverse_time), *callbacks])
    return model, history, data


def short_run_figures(model, history, data):
    """The batch-norm lag in numbers: accuracies per epoch, then the test accuracy with the
    moving statistics as trained and as recomputed on the training images. Returns (figures,
    what recompute_batch_norm_statistics returned)."""
    (x_train, y_train), (x_test, y_test) = data
    with steady_arithmetic():
        before = model.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]
        changes = diagnostics.recompute_batch_norm_statistics(model, x_train)
        after = model.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]
    h = history.history
    figures = dict(acc=[round(100 * a, 1) for a in h["acc"]],
                   val_acc=[round(100 * a, 1) for a in h["val_acc"]],
                   test_before=round(100 * before, 1), test_after=round(100 * after, 1))
    return figures, changes


def picture_run(seed=PICTURE_RUN["seed"], train=PICTURE_RUN["train"],
                validation=PICTURE_RUN["validation"], epochs=PICTURE_RUN["epochs"]):
    """PICTURE_RUN: returns (fresh model, trained model, history, data, seconds)."""
    minicnn.seed(seed)
    (x_all, y_all), (x_test, y_test) = assignment4.load_mnist(train + validation)
    x_train, y_train = x_all[:train], y_all[:train]
    x_val, y_val = x_all[train:], y_all[train:]
    minicnn.seed(seed)
    fresh = assignment4.build_model("go-crazy")
    fresh.build()
    minicnn.seed(seed)
    model = assignment4.build_model("go-crazy")
    start = time.perf_counter()
    with steady_arithmetic():
        history = model.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=2,
                            validation_data=(x_val, y_val),
                            callbacks=[LearningRateScheduler(assignment4.inverse_time)])
    seconds = time.perf_counter() - start
    return fresh, model, history, ((x_train, y_train), (x_val, y_val), (x_test, y_test)), seconds


# ---- diagrams -----------------------------------------------------------------------------
WINDOW_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def im2col_picture(plt):
    """The worked example of docs/im2col.md: four windows of a 4x4 image, and the four rows
    that im2col makes of them."""
    x = np.arange(1, 17, dtype=np.float64).reshape(1, 4, 4, 1)
    cols = im2col(x, 3, 3, 1, 1).reshape(4, 9)                    # the library's columns
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained",
                                      gridspec_kw=dict(width_ratios=[1, 2.3], wspace=0.08))
    left.imshow(np.ones((4, 4)), cmap="gray", vmin=0, vmax=1)
    for i in range(4):
        for j in range(4):
            left.text(j, i, str(int(x[0, i, j, 0])), ha="center", va="center", fontsize=11)
    for k, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        inset = 0.06 + 0.07 * k
        left.add_patch(plt.Rectangle((j - 0.5 + inset, i - 0.5 + inset), 3 - 2 * inset,
                                     3 - 2 * inset, fill=False, lw=2.2, ec=WINDOW_COLOURS[k]))
    left.set_title("x: 4x4, and its four 3x3 windows", fontsize=10)
    left.set_xticks([])
    left.set_yticks([])
    _grid_lines(left, 4, 4)
    right.imshow(np.ones((4, 9)), cmap="gray", vmin=0, vmax=1, aspect="auto")
    for r in range(4):
        right.add_patch(plt.Rectangle((-0.5, r - 0.5), 9, 1, color=WINDOW_COLOURS[r], alpha=0.18))
        for c in range(9):
            right.text(c, r, str(int(cols[r, c])), ha="center", va="center", fontsize=11)
    right.set_yticks(range(4))
    right.set_yticklabels([f"window ({i},{j})" for i, j in [(0, 0), (0, 1), (1, 0), (1, 1)]])
    right.set_xticks(range(9))
    right.set_xticklabels([f"({a},{b})" for a in range(3) for b in range(3)], fontsize=8)
    right.set_xlabel("position (a, b) inside the window")
    right.set_title("im2col(x, 3, 3, 1, 1): one row per output pixel, its window read row by row",
                    fontsize=10)
    _grid_lines(right, 4, 9)
    return save(plt, fig, "im2col.png")


def sliding_window_picture(plt, digit):
    """A 3x3 kernel slid over a digit: the window at one position, the kernel, and the
    output map of a Conv2D with that kernel (the pixel the window makes, marked)."""
    kernel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])   # left-to-right edges
    conv = nn.Conv2D(1, 3, use_bias=False)
    conv.build((28, 28, 1))
    conv.params["kernel"][...] = backend.to_device(kernel.reshape(3, 3, 1, 1))
    y = backend.to_host(conv.forward(backend.to_device(digit[None].astype(np.float32))))[0, :, :, 0]
    i, j = np.unravel_index(int(np.argmax(y)), y.shape)           # the strongest left edge
    i, j = int(i), int(j)                                         # the window's top-left pixel
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9), gridspec_kw=dict(width_ratios=[1, 0.55, 1]))
    axes[0].imshow(digit[:, :, 0], cmap="gray")
    axes[0].add_patch(plt.Rectangle((j - 0.5, i - 0.5), 3, 3, fill=False, ec="#ff7f0e", lw=2))
    axes[0].set_title(f"input 28x28; the window at rows {i}-{i + 2}, columns {j}-{j + 2}",
                      fontsize=9)
    axes[1].imshow(kernel, cmap="RdBu_r", vmin=-2, vmax=2)
    for a in range(3):
        for b in range(3):
            axes[1].text(b, a, f"{kernel[a, b]:g}", ha="center", va="center", fontsize=11,
                         color="white" if abs(kernel[a, b]) > 1.5 else "black")
    axes[1].set_title("kernel 3x3\n(the same 9 weights at every position)", fontsize=9)
    limit = float(np.abs(y).max())
    shown = axes[2].imshow(y, cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[2].add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="#ff7f0e", lw=2))
    window = digit[i:i + 3, j:j + 3, 0]
    axes[2].set_title(f"output 26x26: y[{i},{j}] = sum(window * kernel) = {y[i, j]:.2f}",
                      fontsize=9)
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04).set_label("output", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    assert abs(float((window * kernel).sum()) - float(y[i, j])) < 1e-4
    fig.suptitle("A convolution slides one small kernel over the image. This one: red where "
                 "brightness rises from left to right (a stroke's left edge), blue where it falls",
                 fontsize=10)
    return save(plt, fig, "sliding_window.png")


def receptive_field_picture(plt, digit):
    """What one output pixel of each of Go Crazy's layers sees, drawn on a digit."""
    model = assignment4.go_crazy()
    fields = model.receptive_fields()
    steps = [(layer.name, r, j) for layer, (r, j) in zip(model.layers, fields)
             if r is not None and (layer.rf_kernel > 1)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw=dict(width_ratios=[1, 1.3]))
    left.imshow(digit[:, :, 0], cmap="gray")
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.95, len(steps)))
    for (name, r, _), colour in zip(steps, colours):
        top = (28 - r) / 2 - 0.5                                   # centred squares of side r
        left.add_patch(plt.Rectangle((top, top), r, r, fill=False, ec=colour, lw=1.8))
    left.set_xticks([])
    left.set_yticks([])
    left.set_title("the square one central output pixel sees, after each layer\n"
                   "that widens it (colours as on the right)", fontsize=9)
    index = list(range(1, len(model.layers) + 1))
    rs = [r for r, _ in fields]
    right.step(index, [r if r is not None else np.nan for r in rs], where="mid", color="#444444")
    for (name, r, j), colour in zip(steps, colours):
        number = [layer.name for layer in model.layers].index(name) + 1
        right.plot(number, r, "o", color=colour, ms=7)
        right.annotate(f"{name}: {r}" + (f" (jump {j})" if j > 1 else ""), (number, r),
                       textcoords="offset points", xytext=(6, -10), fontsize=7)
    right.axhline(28, color="#999999", ls="--", lw=1)
    right.text(1, 28.6, "the whole 28x28 image", fontsize=7, color="#666666")
    right.set_xlabel("layer number (Go Crazy, as in the summary)")
    right.set_ylabel("receptive field (pixels)")
    right.set_xticks(index)
    right.tick_params(labelsize=7)
    right.set_ylim(0, 31)
    right.grid(alpha=0.3)
    right.set_title("3x3 convolutions add 2 before the pooling, 4 after it", fontsize=9)
    return save(plt, fig, "receptive_field.png")


def max_pool_picture(plt):
    """MaxPooling2D's forward and backward on a 4x4 map with a tie: the gradient goes to the
    first maximum of each window, nothing to the rest."""
    x = np.array([[1.0, 3.0, 0.0, 0.0],
                  [2.0, 0.5, 0.0, 0.0],
                  [0.2, 0.1, 4.0, 1.0],
                  [0.7, 0.3, 2.0, 5.0]]).reshape(1, 4, 4, 1)
    grad_out = np.array([[0.1, -0.2], [0.3, 0.4]]).reshape(1, 2, 2, 1)
    pool = nn.MaxPooling2D(2)
    previous = backend.floatx()
    backend.set_floatx("float64")
    try:
        y = backend.to_host(pool.forward(backend.to_device(x)))
        dx = backend.to_host(pool.backward(backend.to_device(grad_out)))
    finally:
        backend.set_floatx(previous)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.3), gridspec_kw=dict(width_ratios=[2, 1, 1, 2]))
    panels = [(x[0, :, :, 0], "x (4x4): each window's winner circled;\nthe top-right window ties "
               "(four 0s)"), (y[0, :, :, 0], "y = max of each 2x2 window"),
              (grad_out[0, :, :, 0], "dL/dy, from the next layer"),
              (dx[0, :, :, 0], "dL/dx: each window's gradient goes\nto its first maximum, 0 elsewhere")]
    for ax, (values, title) in zip(axes, panels):
        ax.imshow(np.ones_like(values), cmap="gray", vmin=0, vmax=1)
        rows, cols = values.shape
        for i in range(rows):
            for j in range(cols):
                ax.text(j, i, f"{values[i, j]:g}", ha="center", va="center", fontsize=11,
                        color="black" if values[i, j] != 0 or "dL/dx" not in title else "#aaaaaa")
        ax.set_xticks([])
        ax.set_yticks([])
        _grid_lines(ax, rows, cols)
        ax.set_title(title, fontsize=8.5)
        for k in (1,) if rows == 4 else ():
            ax.axhline(k + 0.5, color="black", lw=2)
            ax.axvline(k + 0.5, color="black", lw=2)
    for i in range(2):
        for j in range(2):
            window = x[0, 2 * i:2 * i + 2, 2 * j:2 * j + 2, 0]
            a, b = np.unravel_index(int(window.argmax()), (2, 2))
            for ax in (axes[0], axes[3]):
                ax.add_patch(plt.Circle((2 * j + b, 2 * i + a), 0.38, fill=False, ec=WINDOW_COLOURS[2],
                                        lw=2))
    return save(plt, fig, "maxpool_routing.png")


def batch_norm_picture(plt, model, x):
    """One channel of a trained model's first batch norm on one batch: its input, the
    normalised values, and the output after gamma and beta (training mode)."""
    first = next(i for i, layer in enumerate(model.layers) if isinstance(layer, nn.BatchNormalization))
    h = backend.to_device(x)
    for layer in model.layers[:first]:
        h = layer.forward(h, training=False)
    trained = model.layers[first]
    norm = nn.BatchNormalization(momentum=trained.momentum, epsilon=trained.epsilon)
    norm.build(trained.input_shape)
    norm.params["gamma"][...] = trained.params["gamma"]
    norm.params["beta"][...] = trained.params["beta"]
    y = backend.to_host(norm.forward(h, training=True))
    values = backend.to_host(h)
    channel = int(np.argmax(values.reshape(-1, values.shape[-1]).std(axis=0)))   # var >> eps
    v, out = values[..., channel].ravel(), y[..., channel].ravel()
    mean, std = float(v.mean()), float(v.std())
    x_hat = (v - mean) / math.sqrt(std * std + norm.epsilon)
    gamma = float(backend.to_host(norm.params["gamma"])[channel])
    beta = float(backend.to_host(norm.params["beta"])[channel])
    assert np.allclose(x_hat * gamma + beta, out, rtol=1e-3, atol=1e-3)   # float32 sums
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.3), layout="constrained")
    panels = [(v, f"input of {trained.name}, channel {channel}\n(after conv2d_1's ReLU): "
                  f"mean {mean:.2f}, std {std:.2f}"),
              (x_hat, f"x_hat = (x - mean) / sqrt(var + eps)\nmean {x_hat.mean():.2f}, "
                      f"std {x_hat.std():.2f}"),
              (out, f"y = gamma * x_hat + beta, gamma {gamma:.2f}, beta {beta:.2f}\n"
                    f"mean {out.mean():.2f}, std {out.std():.2f}")]
    for ax, (data, title) in zip(axes, panels):
        ax.hist(data, bins=60, color="#4c72b0")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=8.5)
        ax.tick_params(labelsize=7)
        ax.axvline(float(data.mean()), color="#d62728", lw=1.2)
    axes[0].set_ylabel(f"count of the {v.size:,} values (log)", fontsize=8)
    fig.suptitle(f"Batch norm on one channel over a batch of {x.shape[0]} images (each image "
                 f"gives {values.shape[1]}x{values.shape[2]} values); red: the mean", fontsize=9.5)
    return save(plt, fig, "batchnorm_channel.png")


def schedules_picture(plt, epochs=20):
    """The learning rate per epoch of every built-in schedule, starting from 0.003."""
    schedules = {"inverse_time_decay(0.003, 0.319): the assignment's": inverse_time_decay(0.003, 0.319),
                 "step_decay(0.003, 0.5, 5)": step_decay(0.003, 0.5, 5),
                 "exponential_decay(0.003, 0.85)": exponential_decay(0.003, 0.85),
                 "cosine_decay(0.003, 20)": cosine_decay(0.003, epochs),
                 "one_cycle(0.003, 20)": one_cycle(0.003, epochs)}
    fig, (linear, log) = plt.subplots(1, 2, figsize=(11.5, 3.8))
    for label, schedule in schedules.items():
        values = [schedule(e) for e in range(epochs)]
        style = dict(lw=2.6, color="black") if "assignment" in label else dict(lw=1.4)
        for ax in (linear, log):
            ax.plot(range(epochs), values, "o-", ms=3, label=label, **style)
    log.set_yscale("log")
    for ax, title in ((linear, "learning rate per epoch"), (log, "the same, log scale")):
        ax.set_xlabel("epoch (from 0)")
        ax.set_xticks(range(0, epochs, 2))
        ax.grid(alpha=0.3)
        ax.set_title(title, fontsize=9)
    linear.set_ylabel("lr")
    log.legend(fontsize=7, loc="lower left")
    return save(plt, fig, "schedules.png")


def central_difference_errors(dtype, steps, seed=0):
    """The gradcheck error of the textbook BatchNormalization's input gradient when the
    loss is computed in ``dtype``, for each step size h of ``steps``: the relative error of
    the central difference against the backward pass in float64 (docs/gradcheck.md)."""
    rng = np.random.default_rng(seed)
    x64 = rng.standard_normal((4, 3, 3, 2))
    weights = rng.standard_normal((4, 3, 3, 2))
    previous = backend.floatx()
    try:
        backend.set_floatx("float64")
        exact_layer = nn.BatchNormalization()
        exact_layer.forward(backend.to_device(x64), training=True)
        analytic = backend.to_host(exact_layer.backward(backend.to_device(weights))).ravel()
        backend.set_floatx(dtype)
        layer = nn.BatchNormalization()
        layer.build(x64.shape[1:])
        g = backend.to_device(weights, dtype=dtype)
        errors = []
        for h in steps:
            numeric = np.empty(x64.size)
            for i in range(x64.size):
                values = []
                for sign in (1.0, -1.0):
                    moved = x64.copy().ravel()
                    moved[i] += sign * h
                    x = backend.to_device(moved.reshape(x64.shape), dtype=dtype)
                    values.append(float(backend.to_host((layer.forward(x, training=True) * g).sum())))
                numeric[i] = (values[0] - values[1]) / (2 * h)
            scale = max(np.abs(analytic).max(), np.abs(numeric).max())
            errors.append(float(np.abs(analytic - numeric).max() / scale))
        return errors
    finally:
        backend.set_floatx(previous)


GRADCHECK_STEPS = [10.0 ** -k for k in range(1, 11)]


def gradcheck_steps_picture(plt):
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for dtype, colour in (("float32", "#d62728"), ("float64", "#1f77b4")):
        errors = central_difference_errors(dtype, GRADCHECK_STEPS)
        ax.loglog(GRADCHECK_STEPS, errors, "o-", color=colour, label=f"loss in {dtype}")
        best = int(np.argmin(errors))
        ax.annotate(f"best: {errors[best]:.0e} at h = {GRADCHECK_STEPS[best]:.0e}",
                    (GRADCHECK_STEPS[best], errors[best]), textcoords="offset points",
                    xytext=(8, -4 if dtype == "float64" else -12), fontsize=7.5, color=colour)
    ax.axhline(1e-6, color="#999999", ls="--", lw=1)
    ax.text(0.08, 1.5e-6, "gradcheck's threshold, 1e-6", fontsize=7, color="#666666")
    ax.axvline(1e-6, color="#999999", ls=":", lw=1)
    ax.text(9e-7, 3e-3, "gradcheck's h, 1e-6", fontsize=7, color="#666666")
    ax.set_ylim(1e-11, 10)
    ax.set_xlabel("step h of the central difference")
    ax.set_ylabel("relative error")
    ax.set_title("BatchNormalization's input gradient against central differences:\n"
                 "large h: the curve bends (error ~ h^2); small h: rounding (error ~ eps/h)",
                 fontsize=9)
    ax.invert_xaxis()
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save(plt, fig, "gradcheck_steps.png")


def batch_norm_lag_picture(plt, steps, model, changes):
    """The short run's first batch norm: its moving mean step by step, against the mean of
    what reaches it over the training images (what recompute_batch_norm_statistics set)."""
    name = next(layer.name for layer in model.layers if isinstance(layer, nn.BatchNormalization))
    trace = np.array([s[name] for s in steps])                       # (steps, C)
    population = changes[name][2]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 3.8))
    t = np.arange(0, 500)
    left.plot(t, 0.99 ** t, color="#444444")
    for count, label, offset in ((48, "the short run: 48 steps", (8, 8)),
                                 (469, "one epoch of 60,000: 469 steps", (-150, 22))):
        left.plot(count, 0.99 ** count, "o", color="#d62728")
        left.annotate(f"{label}\n0.99^{count} = {0.99 ** count:.3f}", (count, 0.99 ** count),
                      textcoords="offset points", xytext=offset, fontsize=7.5)
    left.set_xlabel("training steps")
    left.set_ylabel("share of the starting value left")
    left.set_title("momentum 0.99: the moving statistics remember their start\n"
                   "(mean 0, variance 1) as 0.99^steps", fontsize=9)
    left.grid(alpha=0.3)
    channels = np.argsort(-np.abs(population))[:3]
    for c, colour in zip(channels, WINDOW_COLOURS):
        right.plot(range(1, len(trace) + 1), trace[:, c], color=colour, label=f"channel {c}")
        right.axhline(population[c], color=colour, ls="--", lw=1)
    right.set_xlabel("step")
    right.set_ylabel("moving_mean")
    right.set_title(f"{name}'s moving mean over the {len(trace)} steps (solid) and the mean of\n"
                    "its input over the 3,000 training images (dashed)", fontsize=9)
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    return save(plt, fig, "batchnorm_lag.png")


def _grid_lines(ax, rows, cols):
    """Thin lines between the cells of a rows x cols table drawn with imshow."""
    ax.hlines(np.arange(-0.5, rows + 0.5), -0.5, cols - 0.5, color="#bbbbbb", lw=0.8)
    ax.vlines(np.arange(-0.5, cols + 0.5), -0.5, rows - 0.5, color="#bbbbbb", lw=0.8)


# ---- the whole set ------------------------------------------------------------------------
def diagrams(plt):
    (x_train, _), _ = assignment4.load_mnist(10)
    digit = x_train[0]                                               # a 5
    im2col_picture(plt)
    sliding_window_picture(plt, digit)
    receptive_field_picture(plt, digit)
    max_pool_picture(plt)
    schedules_picture(plt)
    gradcheck_steps_picture(plt)


def trained_pictures(plt, runs):
    fresh, model, history, data, seconds = picture_run()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    # a short run: batch norm's moving statistics lag (docs/batchnorm_lag.md); estimate them
    # again on the training images, check on the validation images, then test once
    val_before = model.evaluate(x_val, y_val, batch_size=256, verbose=0)[1]
    diagnostics.recompute_batch_norm_statistics(model, x_train)
    val_after = model.evaluate(x_val, y_val, batch_size=256, verbose=0)[1]
    test_acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]
    runs["picture_run"] = dict(PICTURE_RUN, seconds=round(seconds),
                               acc=[round(100 * a, 2) for a in history.history["acc"]],
                               val_acc=[round(100 * a, 2) for a in history.history["val_acc"]],
                               val_acc_recomputed=round(100 * val_after, 2),
                               val_acc_check=round(100 * val_before, 2),
                               test_acc=round(100 * test_acc, 2),
                               test_wrong=int(round((1 - test_acc) * len(x_test))))
    viz.plot_history(history, os.path.join(IMG, "history.png"),
                     title=f"Go Crazy, {PICTURE_RUN['train']:,} training images, "
                           f"{PICTURE_RUN['validation']:,} held out for validation")
    viz.show_filters(model, os.path.join(IMG, "filters.png"))
    viz.show_feature_maps(model, x_test[0], os.path.join(IMG, "feature_maps.png"))
    viz.show_deep_feature_maps(model, x_test[0], os.path.join(IMG, "deep_feature_maps.png"))
    viz.show_misclassified(model, x_test, y_test, os.path.join(IMG, "misclassified.png"))
    viz.plot_confusion_matrix(model, x_test, y_test, os.path.join(IMG, "confusion_matrix.png"))
    viz.plot_activation_histograms({"at initialisation": fresh, "after training": model},
                                   x_train[:256], os.path.join(IMG, "activation_histograms.png"))
    batch_norm_picture(plt, model, x_train[:128])
    for name in ("history", "filters", "feature_maps", "deep_feature_maps", "misclassified",
                 "confusion_matrix", "activation_histograms"):
        print(f"wrote docs/img/{name}.png")


def short_run_pictures(plt, runs):
    recorder = MovingStatistics()
    model, history, data = short_run(callbacks=[recorder])
    figures, changes = short_run_figures(model, history, data)
    runs["short_run"] = dict(SHORT_RUN, **figures)
    batch_norm_lag_picture(plt, recorder.steps, model, changes)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["diagrams", "trained", "short"], default=None,
                   help="draw one group only (default: all)")
    args = p.parse_args(argv)
    plt = pyplot()
    os.makedirs(IMG, exist_ok=True)
    runs = {}
    if os.path.exists(RUNS):
        with open(RUNS, encoding="utf-8") as f:
            runs = json.load(f)
    if args.only in (None, "diagrams"):
        diagrams(plt)
    if args.only in (None, "short"):
        short_run_pictures(plt, runs)
    if args.only in (None, "trained"):
        trained_pictures(plt, runs)
    with open(RUNS, "w", encoding="utf-8") as f:
        json.dump(runs, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {os.path.relpath(RUNS, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

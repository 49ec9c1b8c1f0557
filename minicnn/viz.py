"""Pictures: training curves, filters, feature maps, misclassified digits, confusion matrix,
activation histograms.

matplotlib is optional (pip install -e ".[plot]" in a checkout); every function raises an
ImportError saying how to get it, and nothing else in minicnn needs it.
"""
import math
import numbers

import numpy as np  # host side: pictures are drawn from host copies

from . import backend
from .files import write_atomically
from .model import checks
from .nn.activations import Activation, ReLU
from .nn.conv import Conv2D


def _pyplot():
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError('matplotlib is needed for pictures: pip install -e ".[plot]" in '
                          "minicnn's checkout (or pip install matplotlib)") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    """Write a figure atomically (temp file, then rename); returns the path."""
    write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    return path


def plot_history(history, path, title=None):
    """Loss and accuracy per epoch (training and validation) as a PNG at ``path``."""
    plt = _pyplot()
    h = getattr(history, "history", history)
    epochs = range(1, len(h["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, ax in (("loss", ax_loss), ("acc", ax_acc)):
        ax.plot(epochs, h[key], "o-", label=f"train {key}")
        if f"val_{key}" in h:
            ax.plot(epochs, h[f"val_{key}"], "s-", label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


# ---- what the network learned -------------------------------------------------
def show_filters(model, path, layer=None):
    """Each filter of a convolution as a small image, in a grid, with a colour key, as a PNG.

    ``layer``: a name, an index into ``model.layers``, or None for the first
    Conv2D. A kernel (kh, kw, C_in, F) gives F images of kh x kw when C_in is 1;
    otherwise one row per input channel and one column per filter. All filters
    share one symmetric scale, shown by the colour bar: white is 0, red positive,
    blue negative, so filters can be compared with each other.
    """
    plt = _pyplot()
    target = _pick_layer(model, layer, "show_filters")
    kernel = target.params.get("kernel")
    if kernel is None or kernel.ndim != 4:
        raise ValueError(f"show_filters: {target.name} ({type(target).__name__}) has no "
                         "convolution kernel; pick a Conv2D layer.")
    k = backend.to_host(kernel)                                       # (kh, kw, C_in, F), host
    kh, kw, c_in, f = k.shape
    limit = float(np.abs(k).max()) or 1.0                             # one scale for the layer
    style = dict(cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    if c_in == 1:
        cols = min(f, 8)
        fig, axes = _grid(plt, f, cols, tile=0.9)
        for j in range(f):
            image = axes[j].imshow(k[:, :, 0, j], **style)
            axes[j].set_title(str(j), fontsize=8)
    else:
        fig, axes = _grid(plt, c_in * f, f, tile=0.55)
        for c in range(c_in):
            for j in range(f):
                ax = axes[c * f + j]
                image = ax.imshow(k[:, :, c, j], **style)
                if c == 0:
                    ax.set_title(str(j), fontsize=7)
                if j == 0:
                    ax.set_ylabel(f"in {c}", fontsize=7)
    _colour_key(fig, image, axes, "weight")
    fig.suptitle(f"{target.name}: {f} filters of {kh}x{kw}"
                 + (f" over {c_in} input channels (rows)" if c_in > 1 else ""), fontsize=10)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def show_feature_maps(model, image, path, layer=None):
    """Every channel of one layer's output for ONE image, in a grid, as a PNG at ``path``.

    ``image``: (H, W, C) like the model's input (also (1, H, W, C), or (H, W)
    for one channel). ``layer``: a name, an index, or None for the first Conv2D.
    The layers run one by one in inference mode (dropout off, batch norm on its
    moving statistics) on a batch of one, up to and including ``layer``; the
    input comes first in the grid, then each channel, all on one scale shown by
    the colour bar. The title says when the maps are taken after a ReLU.
    """
    plt = _pyplot()
    target = _pick_layer(model, layer, "show_feature_maps")
    if len(target.output_shape) != 3:
        raise ValueError(f"show_feature_maps: {target.name} outputs {target.output_shape}, "
                         "not images (H, W, C); pick an earlier layer.")
    img, outputs = _run_one_image(model, image, [target], "show_feature_maps")
    maps = outputs[0]                                                 # (H', W', C'), host
    n = maps.shape[-1]
    rows = max(1, round(math.sqrt((n + 1) / 3)))                   # about three times wider
    cols = math.ceil((n + 1) / rows)                                 # than tall, no lone tile
    fig, axes = _grid(plt, n + 1, cols, tile=1.1)
    axes[0].imshow(_as_picture(img), cmap="gray", interpolation="nearest")
    axes[0].set_title("input", fontsize=8)
    style = _map_style(maps)
    for c in range(n):
        shown = axes[c + 1].imshow(maps[:, :, c], **style)
        axes[c + 1].set_title(str(c), fontsize=8)
    _colour_key(fig, shown, axes[1:], "activation")
    fig.suptitle(f"{target.name}: {n} channels of {maps.shape[0]}x{maps.shape[1]}, "
                 f"{_where(target)} (inference mode)", fontsize=10)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def show_deep_feature_maps(model, image, path, layers=None, max_channels=16):
    """The feature maps of several layers for ONE image: a row per layer, as a PNG at ``path``.

    ``layers``: names or indices; None takes every Conv2D whose output is still an
    image larger than 1x1. Each row shows up to ``max_channels`` channels on one
    scale, with its own colour bar; its label gives the layer, the map size, and
    whether the maps are taken after a ReLU. Inference mode, as show_feature_maps.
    """
    plt = _pyplot()
    if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
        raise ValueError("show_deep_feature_maps: max_channels must be a positive int, "
                         f"got {max_channels!r}.")
    model.build()
    if layers is None:
        targets = [lay for lay in model.layers if isinstance(lay, Conv2D)
                   and len(lay.output_shape) == 3 and lay.output_shape[0] * lay.output_shape[1] > 1]
        if not targets:
            raise ValueError("show_deep_feature_maps: the model has no Conv2D with an image "
                             "output; pass layers= (names or indices).")
    else:
        targets = [_pick_layer(model, lay, "show_deep_feature_maps") for lay in layers]
    for lay in targets:
        if len(lay.output_shape) != 3:
            raise ValueError(f"show_deep_feature_maps: {lay.name} outputs {lay.output_shape}, "
                             "not images (H, W, C); pick earlier layers.")
    img, outputs = _run_one_image(model, image, targets, "show_deep_feature_maps")
    cols = min(max_channels, max(m.shape[-1] for m in outputs))
    tile = 0.62
    height = len(targets) * (tile + 0.2) + 0.5
    fig, grid = plt.subplots(len(targets), cols + 1, squeeze=False,
                             figsize=((cols + 1) * tile + 1.2, height),
                             gridspec_kw=dict(width_ratios=[1.6] + [1] * cols))
    fig.subplots_adjust(top=1.0 - 0.45 / height, bottom=0.02)
    for row, (lay, maps) in enumerate(zip(targets, outputs)):
        label_ax = grid[row][0]
        label_ax.axis("off")
        label_ax.text(1.0, 0.5, f"{lay.name}\n{maps.shape[0]}x{maps.shape[1]}x{maps.shape[2]}"
                      f"\n{_where(lay)}", ha="right", va="center", fontsize=7,
                      transform=label_ax.transAxes)
        style = _map_style(maps)
        used = []
        for c in range(cols):
            ax = grid[row][c + 1]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < maps.shape[-1]:
                shown = ax.imshow(maps[:, :, c], **style)
                used.append(ax)
            else:
                ax.axis("off")
        bar = fig.colorbar(shown, ax=used, fraction=0.02, pad=0.01)
        bar.ax.tick_params(labelsize=6)
    fig.suptitle(f"feature maps of one digit, layer by layer (inference mode; up to "
                 f"{max_channels} channels a row, each row on its own colour scale)", fontsize=9)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def show_misclassified(model, x, y, path, max_images=36):
    """The first ``max_images`` images of ``x`` the model gets wrong, with its confidence.

    Each is titled with the true class, the predicted one and the probability the
    model gave it ("true 4 / pred 9, 87%"), and below that the probability of the
    true class. ``y``: integer labels (N,) or one-hot rows (N, K). Writes a PNG at
    ``path`` (a note instead of a grid when nothing is wrong).
    """
    plt = _pyplot()
    if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
        raise ValueError("show_misclassified: max_images must be a positive int, "
                         f"got {max_images!r}.")
    labels = _labels(y, x, "show_misclassified")
    n = int(x.shape[0])
    probabilities = model.predict(x, batch_size=256)
    pred = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    shown = wrong[:max_images]
    if len(shown) == 0:
        fig, axes = _grid(plt, 1, 1, tile=3.0)
        axes[0].axis("off")
        axes[0].text(0.5, 0.5, f"no misclassified images\n(out of {n})", ha="center",
                     va="center", fontsize=11)
    else:
        cols = max(1, math.ceil(math.sqrt(len(shown))))
        fig, axes = _grid(plt, len(shown), cols, tile=1.6)
        height = fig.get_figheight()                           # room for a two-line title,
        fig.subplots_adjust(hspace=0.55, top=1.0 - 1.0 / height)   # and a title and label each
        for ax, i in zip(axes, shown):
            ax.imshow(_as_picture(backend.to_host(x[int(i)])), cmap="gray", interpolation="nearest")
            t, p = int(labels[i]), int(pred[i])
            ax.set_title(f"true {t} / pred {p}, {probabilities[i, p]:.0%}", fontsize=7.5)
            ax.set_xlabel(f"p({t}) = {probabilities[i, t]:.0%}", fontsize=7)
        fig.suptitle(f"{len(wrong):,} of {n:,} misclassified ({100 * len(wrong) / n:.2f}%), the "
                     f"first {len(shown)}.\nAbove: the true class, the answer and its probability; "
                     "below: the probability of the true class", fontsize=9)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_confusion_matrix(model, x, y, path, title=None):
    """The confusion matrix of ``model`` on (x, y) as a PNG at ``path``; returns the path.

    Row: the true class, column: the predicted one, each cell the count. The
    diagonal (right answers) is written in grey; the errors are coloured, with a
    colour key, so that the few mistakes of a good model are not washed out by
    the thousand right answers per class. ``y``: integer labels or one-hot rows.
    """
    plt = _pyplot()
    from .diagnostics import confusion_matrix
    labels = _labels(y, x, "plot_confusion_matrix")
    classes = int(model.output_shape[-1])
    pred = model.predict(x, batch_size=256).argmax(axis=1)
    counts = confusion_matrix(labels, pred, classes)
    errors = counts.astype(float)
    np.fill_diagonal(errors, np.nan)                   # coloured: the mistakes only
    fig, ax = plt.subplots(figsize=(0.55 * classes + 1.8, 0.55 * classes + 1.0))
    colours = plt.get_cmap("Reds").with_extremes(bad="#f2f2f2")       # the diagonal: light grey
    image = ax.imshow(errors, cmap=colours, vmin=0, vmax=max(1.0, float(np.nanmax(errors))))
    top = max(1.0, float(np.nanmax(errors)))
    for i in range(classes):
        for j in range(classes):
            if i == j:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6.5,
                        color="#555555")
            elif counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7.5,
                        color="white" if counts[i, j] > 0.6 * top else "black")
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("wrong answers (off the diagonal)", fontsize=8)
    accuracy = np.trace(counts) / max(1, counts.sum())
    ax.set_title(title or f"{counts.sum() - np.trace(counts):,} of {counts.sum():,} wrong "
                 f"({100 * (1 - accuracy):.2f}%); grey diagonal: right answers", fontsize=9)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_activation_histograms(models, x, path, layers=None, training=True):
    """Histograms of each layer's outputs on the batch ``x``, for one or more models, as a PNG.

    ``models``: {label: model}, e.g. {"at initialisation": fresh, "after training":
    trained}; all of the same architecture. ``layers``: names or indices; None takes
    every Conv2D. ``training``: run the layers as a training step does (batch norms
    on the batch's statistics, dropout on), the default, or as inference does.
    Exact zeros (a ReLU's "off" outputs) are left out of the histogram and counted
    in the legend. The models are left unchanged (minicnn.diagnostics.layer_outputs).
    """
    plt = _pyplot()
    from .diagnostics import layer_outputs
    if not isinstance(models, dict) or not models:
        raise TypeError("plot_activation_histograms: models must be a dict {label: model}, "
                        f"got {type(models).__name__}.")
    first = next(iter(models.values()))
    first.build()
    if layers is None:
        names = [lay.name for lay in first.layers if isinstance(lay, Conv2D)]
    else:
        names = [_pick_layer(first, lay, "plot_activation_histograms").name for lay in layers]
    if not names:
        raise ValueError("plot_activation_histograms: the model has no Conv2D; pass layers=.")
    outputs = {}
    for label, model in models.items():
        rows, _ = layer_outputs(model, x, training=training)
        by_name = {row["name"]: row["output"] for row in rows}
        missing = [name for name in names if name not in by_name]
        if missing:
            raise ValueError(f"plot_activation_histograms: model {label!r} has no layer "
                             f"{missing[0]!r} (or it is a final softmax); the models must "
                             "share their layers.")
        outputs[label] = by_name
    cols = min(4, len(names))
    rows_n = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.1 * cols, 2.3 * rows_n + 0.4), squeeze=False,
                             layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[len(names):]:
        ax.axis("off")
    layer_by_name = {lay.name: lay for lay in first.layers}
    for ax, name in zip(flat, names):
        values = {label: outputs[label][name].ravel() for label in models}
        nonzero = [v[v != 0] for v in values.values() if np.any(v != 0)]
        low = min(float(v.min()) for v in nonzero) if nonzero else -1.0
        high = max(float(v.max()) for v in nonzero) if nonzero else 1.0
        bins = np.linspace(low, high if high > low else low + 1.0, 50)
        for label, v in values.items():
            kept = v[v != 0]
            ax.hist(kept, bins=bins, histtype="step", density=True, linewidth=1.3,
                    label=f"{label}: std {v.std():.2f}, zeros {np.mean(v == 0):.0%}")
        ax.set_yscale("log")
        ax.set_title(f"{name}, {_where(layer_by_name[name])}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper right")
    fig.suptitle(f"outputs per layer on {int(x.shape[0])} images "
                 f"({'training' if training else 'inference'} mode; zeros left out of the "
                 "histograms; y: density, log scale)", fontsize=9)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


# ---- helpers ------------------------------------------------------------------
def _pick_layer(model, layer, where):
    """A layer of ``model`` by name, index or object; None: the first Conv2D."""
    model.build()
    if layer is None:
        for lay in model.layers:
            if isinstance(lay, Conv2D):
                return lay
        raise ValueError(f"{where}: the model has no Conv2D layer; "
                         "pass layer= (a name or an index).")
    if isinstance(layer, numbers.Integral) and not isinstance(layer, bool):
        layer = int(layer)
        if -len(model.layers) <= layer < len(model.layers):
            return model.layers[layer]
        raise ValueError(f"{where}: layer index {layer} is out of range; the model has "
                         f"{len(model.layers)} layers.")
    if isinstance(layer, str):
        for lay in model.layers:
            if lay.name == layer:
                return lay
        raise ValueError(f"{where}: no layer named {layer!r}; the layers are "
                         f"{', '.join(lay.name for lay in model.layers)}.")
    if any(layer is lay for lay in model.layers):
        return layer
    raise TypeError(f"{where}: layer must be a name, an index or None, got {layer!r}.")


def _labels(y, x, where):
    """Integer labels (N,) on the host from labels or one-hot rows, checked against x."""
    labels = backend.to_host(y)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    elif labels.ndim != 1:
        raise ValueError(f"{where}: y must be labels (N,) or one-hot (N, K), "
                         f"got shape {labels.shape}.")
    n = int(x.shape[0])
    if labels.shape[0] != n:
        raise ValueError(f"{where}: x has {n} samples but y has {labels.shape[0]}.")
    return labels.astype(np.int64)


def _run_one_image(model, image, targets, where):
    """Run ONE image through the model in inference mode; returns (the image (H, W, C),
    [each target layer's output (H', W', C')]), host arrays."""
    img = backend.to_host(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim == 3:
        img = img[None]
    model.build()
    h = checks.check_x(img, model.input_shape, where)                # (1, H, W, C) on the device
    wanted = {id(lay) for lay in targets}
    found = {}
    for lay in model.layers:
        h = lay.forward(h, training=False)
        if id(lay) in wanted:
            found[id(lay)] = backend.to_host(h)[0]
            if len(found) == len(wanted):
                break
    return img[0], [found[id(lay)] for lay in targets]


def _where(layer):
    """Where a layer's output is taken, for a title: after a ReLU or not."""
    fn = getattr(layer, "activation", None)
    if isinstance(layer, Activation):
        fn = layer.fn
    if isinstance(layer, ReLU) or isinstance(fn, ReLU):
        return "after ReLU"
    if isinstance(layer, Conv2D) and fn is None:
        return "no activation"
    return f"{type(layer).__name__} output"


def _map_style(maps):
    """imshow settings for feature maps: 0 to the largest value (grey-to-yellow) when none
    is negative, as after a ReLU; else a symmetric red-blue scale around 0."""
    low, high = float(maps.min()), float(maps.max())
    if low >= 0:
        return dict(cmap="magma", vmin=0.0, vmax=high or 1.0, interpolation="nearest")
    limit = max(abs(low), abs(high)) or 1.0
    return dict(cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")


def _colour_key(fig, image, axes, label):
    """A colour bar beside a grid of images that share one scale."""
    bar = fig.colorbar(image, ax=axes, fraction=0.03, pad=0.02, shrink=0.9)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _grid(plt, n, cols, tile):
    """A figure with ``n`` image axes in rows of ``cols``, ticks off, spare cells hidden."""
    rows = max(1, math.ceil(n / cols))
    height = rows * tile + 0.6                                  # + room for the title
    fig, axes = plt.subplots(rows, cols, figsize=(cols * tile, height), squeeze=False)
    fig.subplots_adjust(top=1.0 - 0.6 / height)
    flat = list(axes.ravel())
    for ax in flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat


def _as_picture(a):
    """A host (H, W, C) image as something imshow draws: grey for C = 1, RGB for C = 3."""
    a = np.asarray(a)
    if a.shape[-1] == 1:
        return a[:, :, 0]
    if a.shape[-1] == 3:
        lo, hi = float(a.min()), float(a.max())
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a.mean(axis=-1)

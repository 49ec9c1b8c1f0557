"""Pictures: training curves, filters, feature maps, misclassified digits.

matplotlib is optional (pip install -e ".[plot]" in a checkout); every function raises an
ImportError saying how to get it, and nothing else in minicnn needs it.
"""
import math
import numbers

import numpy as np  # host side: pictures are drawn from host copies

from . import backend
from .model import checks
from .nn.conv import Conv2D
from .utils import write_atomically


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
    """Each filter of a convolution as a small grey image, in a grid, as a PNG at ``path``.

    ``layer``: a name, an index into ``model.layers``, or None for the first
    Conv2D. A kernel (kh, kw, C_in, F) gives F images of kh x kw when C_in is 1;
    otherwise one row per input channel and one column per filter. Each filter
    has its own symmetric scale: mid-grey is 0, white positive, black negative.
    """
    plt = _pyplot()
    target = _pick_layer(model, layer, "show_filters")
    kernel = target.params.get("kernel")
    if kernel is None or kernel.ndim != 4:
        raise ValueError(f"show_filters: {target.name} ({type(target).__name__}) has no "
                         "convolution kernel; pick a Conv2D layer.")
    k = backend.to_host(kernel)                                       # (kh, kw, C_in, F), host
    kh, kw, c_in, f = k.shape
    scale = np.abs(k).reshape(-1, f).max(axis=0)                # one scale per filter
    scale[scale == 0] = 1.0
    if c_in == 1:
        cols = min(f, 8)
        fig, axes = _grid(plt, f, cols, tile=0.9)
        for j in range(f):
            axes[j].imshow(k[:, :, 0, j], cmap="gray", vmin=-scale[j], vmax=scale[j],
                           interpolation="nearest")
            axes[j].set_title(str(j), fontsize=8)
    else:
        fig, axes = _grid(plt, c_in * f, f, tile=0.55)
        for c in range(c_in):
            for j in range(f):
                ax = axes[c * f + j]
                ax.imshow(k[:, :, c, j], cmap="gray", vmin=-scale[j], vmax=scale[j],
                          interpolation="nearest")
                if c == 0:
                    ax.set_title(str(j), fontsize=7)
                if j == 0:
                    ax.set_ylabel(f"in {c}", fontsize=7)
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
    input comes first in the grid, then each channel on its own grey scale.
    """
    plt = _pyplot()
    target = _pick_layer(model, layer, "show_feature_maps")
    if len(target.output_shape) != 3:
        raise ValueError(f"show_feature_maps: {target.name} outputs {target.output_shape}, "
                         "not images (H, W, C); pick an earlier layer.")
    img = backend.to_host(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim == 3:
        img = img[None]
    model.build()
    h = checks.check_x(img, model.input_shape, "show_feature_maps")   # (1, H, W, C) on the device
    for lay in model.layers:
        h = lay.forward(h, training=False)
        if lay is target:
            break
    maps = backend.to_host(h)[0]                                      # (H', W', C'), host
    n = maps.shape[-1]
    cols = min(n + 1, max(4, math.ceil(math.sqrt(2 * (n + 1)))))   # wider than tall
    fig, axes = _grid(plt, n + 1, cols, tile=1.1)
    axes[0].imshow(_as_picture(img[0]), cmap="gray", interpolation="nearest")
    axes[0].set_title("input", fontsize=8)
    for c in range(n):
        axes[c + 1].imshow(maps[:, :, c], cmap="gray", interpolation="nearest")
        axes[c + 1].set_title(str(c), fontsize=8)
    fig.suptitle(f"{target.name}: {n} channels of {maps.shape[0]}x{maps.shape[1]} "
                 "(inference mode, each on its own scale)", fontsize=10)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def show_misclassified(model, x, y, path, max_images=36):
    """The first ``max_images`` images of ``x`` the model gets wrong, titled "true t / pred p".

    ``y``: integer labels (N,) or one-hot rows (N, K). Writes a PNG at ``path``
    (a note instead of a grid when nothing is wrong).
    """
    plt = _pyplot()
    if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
        raise ValueError("show_misclassified: max_images must be a positive int, "
                         f"got {max_images!r}.")
    labels = backend.to_host(y)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    elif labels.ndim != 1:
        raise ValueError("show_misclassified: y must be labels (N,) or one-hot (N, K), "
                         f"got shape {labels.shape}.")
    n = int(x.shape[0])
    if labels.shape[0] != n:
        raise ValueError(f"show_misclassified: x has {n} samples but y has {labels.shape[0]}.")
    pred = model.predict(x, batch_size=256).argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    shown = wrong[:max_images]
    if len(shown) == 0:
        fig, axes = _grid(plt, 1, 1, tile=3.0)
        axes[0].axis("off")
        axes[0].text(0.5, 0.5, f"no misclassified images\n(out of {n})", ha="center",
                     va="center", fontsize=11)
    else:
        cols = max(1, math.ceil(math.sqrt(len(shown))))
        fig, axes = _grid(plt, len(shown), cols, tile=1.25)
        for ax, i in zip(axes, shown):
            ax.imshow(_as_picture(backend.to_host(x[int(i)])), cmap="gray", interpolation="nearest")
            ax.set_title(f"true {int(labels[i])} / pred {int(pred[i])}", fontsize=8)
        fig.suptitle(f"{len(wrong)} of {n} misclassified ({100 * len(wrong) / n:.2f}%); "
                     f"the first {len(shown)}", fontsize=10)
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

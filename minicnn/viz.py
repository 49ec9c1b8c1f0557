"""Pictures: training curves, filters, feature maps, misclassified digits.

matplotlib is optional (pip install "minicnn[plot]"); every function raises an
ImportError saying how to get it, and nothing else in minicnn needs it.
"""
import os


def _pyplot():
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError('matplotlib is needed for pictures: pip install "minicnn[plot]" '
                          "(or pip install matplotlib)") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    """Write a figure atomically (temp file, then rename); returns the path."""
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
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
            ax.plot(epochs, h[f"val_{key}"], "s-", label=f"test {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)

"""Weights files: every weight array of a model in one .npz, written atomically, read
without pickle.

Each array is stored under "<layer index>/<layer name>/<key>", e.g.
"000/conv2d_1/kernel", in Keras' order (kernel, bias; gamma, beta,
moving_mean, moving_variance). Loading matches arrays by layer index and key
and checks every shape and value before it changes the model.
"""
import io
import os
import zipfile

import numpy as np  # host side: weights files

from .. import backend
from ..utils import file_path, require_folder, write_atomically


def save_weights(model, path):
    """Write every weight to an .npz file, atomically (temp file, then rename).

    Refuses NaN or inf weights, so that a diverged model never replaces a good file.
    """
    path = weights_path("save_weights", path)
    arrays = {}
    for i, layer, kind, key in model.weight_slots():
        name = f"{i:03d}/{layer.name}/{key}"
        arrays[name] = real_values(np.array(backend.to_host(getattr(layer, kind)[key])),
                                   f"save_weights: layer {name}",
                                   "the model has diverged; nothing was written")
    require_folder("save_weights", path, "first")
    write_atomically(path, lambda f: np.savez(f, **arrays))


def load_weights(model, path):
    """Load an .npz written by save_weights (no pickle); the model is unchanged on any error."""
    path = weights_path("load_weights", path)
    slots = model.weight_slots()
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:4] != b"PK\x03\x04":               # an .npz is a zip archive
            raise ValueError("not an .npz file (no zip archive); save_weights writes them")
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            stored = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as err:
        raise ValueError(f"load_weights: {path} is not a readable minicnn weights file "
                         f"({type(err).__name__}: {err}).") from err
    by_prefix = {}
    for name in stored:
        by_prefix.setdefault(name.split("/")[0], []).append(name)
    matched = []                                    # stored name for each slot, checked
    for i, layer, kind, key in slots:
        prefix, current = f"{i:03d}", getattr(layer, kind)[key]
        names = [nm for nm in by_prefix.get(prefix, []) if nm.endswith("/" + key)]
        if not names:
            raise ValueError(f"load_weights: {path} has no {key!r} for layer {prefix} "
                             f"{layer.name} ({type(layer).__name__}); the file was saved "
                             "from a different architecture.")
        if stored[names[0]].shape != tuple(current.shape):
            raise ValueError(f"load_weights: layer {prefix} {layer.name} {key}: the file has "
                             f"shape {stored[names[0]].shape}, the model {tuple(current.shape)}.")
        real_values(stored[names[0]], f"load_weights: {path}, layer {prefix} {layer.name} "
                    f"{key}", "the file is corrupt or from a diverged run")
        matched.append(names[0])
    if len(stored) != len(slots):
        raise ValueError(f"load_weights: {path} holds {len(stored)} arrays, the model "
                         f"{len(slots)}; the file was saved from a different architecture.")
    for (_, layer, kind, key), name in zip(slots, matched):
        getattr(layer, kind)[key][...] = backend.to_device(stored[name], dtype=backend.floatx())


def weights_path(who, path):
    """A weights file's path as a string (utils.file_path), and not a folder."""
    path = file_path(who, "path", path, "weights.npz")
    if os.path.isdir(path):
        raise ValueError(f"{who}: {path!r} is a folder; give a file name such as 'weights.npz'.")
    return path


def real_values(a, what, hint):
    """``a`` if it holds finite real numbers; else a ValueError naming ``what``."""
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {a.dtype}, not real numbers ({hint}).")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or inf values ({hint}).")
    return a

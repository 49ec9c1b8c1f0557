"""Weights files: every weight array of a model in one .npz, written atomically
(files.write_atomically), read without pickle.

Each array is stored under "<layer index>/<layer name>/<key>", e.g.
"000/conv2d_1/kernel", in Keras' order (kernel, bias; gamma, beta,
moving_mean, moving_variance). Loading reads the header of every array in the
file first (name, shape, dtype: a few bytes each), refuses a file whose arrays
are not exactly the model's, and only then reads the data: a small file that
would unpack to gigabytes is refused before it is unpacked. Every value is
checked before the model changes.
"""
import os
import zipfile
import zlib

import numpy as np  # host side: weights files

from .. import backend
from ..files import file_path, require_folder, write_atomically

# what reading a damaged or foreign file may raise (zipfile: RuntimeError for an
# encrypted member, NotImplementedError for an unknown compression)
_UNREADABLE = (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
               zlib.error)


def save_weights(model, path):
    """Write every weight to an .npz file, atomically (files.write_atomically).

    Refuses NaN or inf weights, so that a diverged model never replaces a good file,
    and a read-only file (make it writable to replace it).
    """
    path = weights_path("save_weights", path)
    arrays = {}
    for i, layer, kind, key in model.weight_slots():
        name = f"{i:03d}/{layer.name}/{key}"
        arrays[name] = real_values(np.array(backend.to_host(getattr(layer, kind)[key])),
                                   f"save_weights: layer {name}",
                                   "the model has diverged; nothing was written")
    require_folder("save_weights", path, "first")
    write_atomically(path, lambda f: np.savez(f, **arrays), who="save_weights")


def load_weights(model, path):
    """Load an .npz written by save_weights (no pickle); the model is unchanged on any error.

    Every array's header is checked against the model (names, shapes, dtypes, no
    extra arrays) before any array's data is read, so reading is bounded by the
    model's own size.
    """
    path = weights_path("load_weights", path)
    slots = model.weight_slots()
    with _open_archive(path) as archive:
        members = _matching_members(slots, _headers(archive, path), path)
        values = []
        for (i, layer, kind, key), member in zip(slots, members):
            current = getattr(layer, kind)[key]
            values.append(floatx_values(_read_array(archive, member, path), current.dtype,
                                        f"load_weights: {path}, layer {i:03d} {layer.name} {key}",
                                        "the file is corrupt or from a diverged run"))
    for (_, layer, kind, key), value in zip(slots, values):
        getattr(layer, kind)[key][...] = backend.to_device(value, dtype=backend.floatx())


def _unreadable(path, err):
    return ValueError(f"load_weights: {path} is not a readable minicnn weights file "
                      f"({type(err).__name__}: {err}).")


def _open_archive(path):
    """The zip archive (an .npz is one) at ``path``; a ValueError naming it if it is none."""
    try:
        with open(path, "rb") as file:
            if file.read(4) != b"PK\x03\x04":
                raise ValueError("not an .npz file (no zip archive); save_weights writes them")
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except _UNREADABLE as err:
        raise _unreadable(path, err) from err


def _headers(archive, path):
    """{array name: (zip member, shape, dtype)} from the .npy header at the start of each
    member: a few hundred bytes of each are unpacked, none of the data."""
    headers = {}
    try:
        for member in archive.infolist():
            if not member.filename.endswith(".npy"):
                raise ValueError(f"{member.filename!r} is not an array (.npy); save_weights "
                                 "writes nothing else")
            name = member.filename[:-len(".npy")]
            if name in headers:
                raise ValueError(f"it holds two arrays named {name!r}")
            with archive.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
                else:
                    raise ValueError(f"{name!r} is in .npy format {version}, which save_weights "
                                     "does not write")
            headers[name] = member, shape, dtype
    except _UNREADABLE as err:
        raise _unreadable(path, err) from err
    return headers


def _matching_members(slots, headers, path):
    """The zip member of each weight slot, by layer index and key, its header checked: the
    model's shape, real numbers; a ValueError naming the first mismatch, or the arrays
    in the file that are no weights of the model."""
    by_prefix = {}
    for name in headers:
        by_prefix.setdefault(name.split("/")[0], []).append(name)
    matched = []
    for i, layer, kind, key in slots:
        prefix, current = f"{i:03d}", getattr(layer, kind)[key]
        names = [nm for nm in by_prefix.get(prefix, []) if nm.endswith("/" + key)]
        if not names:
            raise ValueError(f"load_weights: {path} has no {key!r} for layer {prefix} "
                             f"{layer.name} ({type(layer).__name__}); the file was saved "
                             "from a different architecture.")
        _, shape, dtype = headers[names[0]]
        if shape != tuple(current.shape):
            raise ValueError(f"load_weights: layer {prefix} {layer.name} {key}: the file has "
                             f"shape {shape}, the model {tuple(current.shape)}.")
        real_dtype(dtype, f"load_weights: {path}, layer {prefix} {layer.name} {key}",
                   "the file is corrupt or from a diverged run")
        matched.append(names[0])
    extra = [name for name in headers if name not in matched]
    if extra:
        shown = ", ".join(repr(name) for name in extra[:3]) + (" ..." if len(extra) > 3 else "")
        raise ValueError(f"load_weights: {path} holds {len(headers)} arrays, the model "
                         f"{len(slots)}: {shown} {'is' if len(extra) == 1 else 'are'} no weight "
                         "of this model; the file was saved from a different architecture.")
    return [headers[name][0] for name in matched]


def _read_array(archive, member, path):
    """The array in ``member``, whose header was checked (so its data is no bigger than the
    model's weight); read to the end, so that the zip's checksum is checked too."""
    try:
        with archive.open(member) as stream:
            array = np.lib.format.read_array(stream, allow_pickle=False)
            if stream.read(1):
                raise ValueError(f"{member.filename!r} holds more bytes than its header declares")
    except _UNREADABLE as err:
        raise _unreadable(path, err) from err
    return array


def weights_path(who, path):
    """A weights file's path as a string (files.file_path), and not a folder."""
    path = file_path(who, "path", path, "weights.npz")
    if os.path.isdir(path):
        raise ValueError(f"{who}: {path!r} is a folder; give a file name such as 'weights.npz'.")
    return path


def real_dtype(dtype, what, hint):
    """A ValueError naming ``what`` unless ``dtype`` is one of real numbers (bool, int, float)."""
    if dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {dtype}, not real numbers ({hint}).")


def real_values(a, what, hint):
    """``a`` if it holds finite real numbers; else a ValueError naming ``what``."""
    real_dtype(a.dtype, what, hint)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or inf values ({hint}).")
    return a


def floatx_values(a, floatx, what, hint):
    """``a`` cast to ``floatx`` (the dtype of the weight it replaces) if it holds finite real
    numbers that stay finite there; else a ValueError naming ``what``: 1e39 is finite in
    float64 and inf in float32, so the check is made after the cast."""
    real_values(a, what, hint)
    floatx = np.dtype(floatx)
    with np.errstate(over="ignore"):
        cast = a.astype(floatx)
    too_big = ~np.isfinite(cast)
    if too_big.any():
        raise ValueError(f"{what} holds {float(a[too_big].flat[0]):g}, which does not fit floatx "
                         f"{floatx} (largest {np.finfo(floatx).max:.4g}) and would become inf "
                         f"({hint}).")
    return cast

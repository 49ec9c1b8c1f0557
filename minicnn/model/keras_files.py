"""Whole-model files and configs, Keras style: model.save(path), load_model(path),
model.to_json(), model_from_json(text), model.get_config().

The architecture is Keras' JSON form,

    {"class_name": "Sequential",
     "config": {"name": "sequential", "layers": [{"class_name": "Conv2D", "config": {...}}, ...]}}

where each layer's config is its get_config() (the first layer's carries
input_shape) and a layer class is found by its name in minicnn.layers (or in
``custom_objects``). A model file is one .npz archive, written atomically
(files.write_atomically) and read without pickle:

    model_config       the JSON above, as UTF-8 bytes (a uint8 array)
    training_config    JSON: loss and metrics by name, the optimizer's class and config
    weights/<layer index>/<layer name>/<key>   every weight, in Network.weight_slots order
    optimizer/iterations, optimizer/slots/<position>/<n>   the optimizer's state

so a loaded model is compiled as it was and its next training step is the
step the saved model would have taken. minicnn writes no HDF5 (.h5).
"""
import io
import json
import os
import zipfile

import numpy as np  # host side: files

from .. import backend, losses, optimizers
from ..files import require_folder, write_atomically
from . import saving

HDF5_SUFFIXES = (".h5", ".hdf5", ".keras")


def refuse_hdf5(who, path):
    """A clear error for an HDF5 file name: minicnn has its own .npz format."""
    if isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(HDF5_SUFFIXES):
        stem = os.path.splitext(os.path.basename(os.fspath(path)))[0] or "model"
        raise ValueError(f"{who}: {os.fspath(path)!r} names an HDF5 file; minicnn writes its own "
                         f".npz format (no h5py needed): name the file {stem + '.npz'!r}.")


# ---- the architecture ---------------------------------------------------------------
def model_config(model):
    """{"class_name": "Sequential", "config": {"name", "layers"}}, JSON-ready."""
    layers = []
    for i, layer in enumerate(model.layers):
        config = dict(layer.get_config())
        if i > 0:
            config.pop("input_shape", None)        # only the first layer's is an argument
        entry = {"class_name": type(layer).__name__, "config": _json_ready(config, layer.name)}
        if not layer.trainable:
            entry["trainable"] = False
        layers.append(entry)
    return {"class_name": type(model).__name__, "config": {"name": model.name, "layers": layers}}


def to_json(model, **kwargs):
    from .. import __version__
    return json.dumps({**model_config(model), "minicnn_version": __version__}, **kwargs)


def model_from_config(config, custom_objects=None):
    """A new model (fresh weights) from model_config's dict."""
    from .. import layers as layers_module
    from .sequential import Sequential
    custom_objects = dict(custom_objects or {})
    if not (isinstance(config, dict) and isinstance(config.get("config"), dict)):
        raise ValueError(f"model_from_config: expected {{'class_name': 'Sequential', 'config': "
                         f"{{...}}}}, got {str(config)[:80]!r}.")
    if config.get("class_name") != "Sequential":
        raise ValueError(f"model_from_config: minicnn builds Sequential models only, the config "
                         f"is a {config.get('class_name')!r}.")
    body = config["config"]
    model = Sequential(name=body.get("name", "sequential"))
    for entry in body.get("layers", []):
        name = entry.get("class_name")
        cls = custom_objects.get(name) or getattr(layers_module, str(name), None)
        if not isinstance(cls, type):
            raise ValueError(f"model_from_config: unknown layer class {name!r}; minicnn.layers "
                             "has no such layer: pass it as custom_objects={'"
                             f"{name}': YourLayer}}.")
        try:
            layer = cls(**entry.get("config", {}))
        except TypeError as err:
            raise ValueError(f"model_from_config: {name}(**config) failed: {err}.") from err
        if entry.get("trainable") is False:
            layer.trainable = False
        model.add(layer)
    return model


def model_from_json(text, custom_objects=None):
    try:
        config = json.loads(text)
    except (TypeError, ValueError) as err:
        raise ValueError(f"model_from_json: not JSON ({err}).") from err
    return model_from_config(config, custom_objects)


def _json_ready(value, where):
    """``value`` with tuples as lists and numpy numbers as Python's; TypeError otherwise."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v, where) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{where}: its config holds {value!r}, which JSON cannot store; give the "
                    "layer arguments by name (e.g. activation='relu') to save it.")


# ---- whole-model files --------------------------------------------------------------
def save_model(model, path, include_optimizer=True):
    """Architecture, weights, and (compiled) the loss, metrics and optimizer with its state."""
    refuse_hdf5("save", path)
    path = saving.weights_path("save", path)
    arrays = {"model_config": _text_array(to_json(model))}
    for i, layer, kind, key in model.weight_slots():
        name = f"{i:03d}/{layer.name}/{key}"
        arrays["weights/" + name] = saving.real_values(
            np.array(backend.to_host(getattr(layer, kind)[key])), f"save: layer {name}",
            "the model has diverged; nothing was written")
    if getattr(model, "training_config", None) is not None and model.optimizer is not None:
        metrics = [m if isinstance(m, str) else getattr(m, "__name__", type(m).__name__)
                   for m in model.training_config["metrics"]]
        training = {"loss": model.training_config["loss"], "metrics": metrics}
        if include_optimizer:
            training["optimizer_config"] = optimizers.serialize(model.optimizer)
            iterations, slots = model.optimizer.get_state()
            arrays["optimizer/iterations"] = np.array(iterations, dtype=np.int64)
            for position, state in slots.items():
                for n, array in enumerate(state):
                    arrays[f"optimizer/slots/{position}/{n}"] = np.array(backend.to_host(array))
        arrays["training_config"] = _text_array(json.dumps(training))
    require_folder("save", path, "first")
    write_atomically(path, lambda f: np.savez(f, **arrays), who="save")


def load_model(path, custom_objects=None, compile=True):
    """The model model.save wrote: rebuilt, its weights set, and (if it was compiled and
    ``compile``) compiled with its loss, metrics and optimizer, the optimizer's state
    (steps taken, moments) put back, so training goes on where it stopped.
    ``custom_objects``: {name: class or function} for your own layers and metrics."""
    refuse_hdf5("load_model", path)
    path = saving.weights_path("load_model", path)
    stored = _read_archive(path)
    if "model_config" not in stored:
        raise ValueError(f"load_model: {path} holds weights only (save_weights wrote it); build "
                         "the model and call model.load_weights(path), or save it with "
                         "model.save(path).")
    model = model_from_json(_text(stored["model_config"], path), custom_objects)
    slots = model.weight_slots()
    weights = []
    for i, layer, kind, key in slots:
        name = f"weights/{i:03d}/{layer.name}/{key}"
        if name not in stored:
            raise ValueError(f"load_model: {path} has no array {name!r}; the file is damaged.")
        weights.append(stored[name])
    extra = sorted(k for k in stored if k.startswith("weights/")
                   and k not in {f"weights/{i:03d}/{layer.name}/{key}" for i, layer, _, key in slots})
    if extra:
        raise ValueError(f"load_model: {path} holds weights the architecture has no place for "
                         f"({extra[0]}, ...); the file is damaged.")
    model.set_weights(weights)
    if compile and "training_config" in stored:
        _compile_as_saved(model, json.loads(_text(stored["training_config"], path)), stored,
                          custom_objects or {}, path)
    return model


def _compile_as_saved(model, training, stored, custom_objects, path):
    metrics = []
    for metric in training.get("metrics", []):
        metrics.append(custom_objects.get(metric, metric))
    loss = custom_objects.get(training["loss"], training["loss"])
    optimizer_config = training.get("optimizer_config")
    optimizer = optimizers.get(optimizer_config) if optimizer_config else "sgd"
    try:
        model.compile(loss=losses.get(loss), optimizer=optimizer, metrics=metrics)
    except ValueError as err:
        raise ValueError(f"load_model: {path} was compiled with something minicnn does not "
                         f"know by name ({err}); pass it as custom_objects={{name: object}}, "
                         "or load with compile=False.") from err
    model.training_config["loss"] = training["loss"]
    if optimizer_config and "optimizer/iterations" in stored:
        slots = {}
        for key, value in stored.items():
            if key.startswith("optimizer/slots/"):
                position, n = (int(part) for part in key.split("/")[2:4])
                slots.setdefault(position, {})[n] = backend.to_device(value, dtype=backend.floatx())
        state = {position: tuple(arrays[n] for n in sorted(arrays)) for position, arrays in slots.items()}
        model.optimizer.set_state((int(stored["optimizer/iterations"]), state))


def _text_array(text):
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _text(array, path):
    try:
        return array.astype(np.uint8).tobytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"load_model: {path} has a damaged config ({err}).") from err


def _read_archive(path):
    """Every member of the .npz at ``path`` as host arrays (no pickle)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:4] != b"PK\x03\x04":
            raise ValueError("not an .npz archive; model.save writes them")
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"load_model: {path} is not a readable minicnn model file "
                         f"({type(err).__name__}: {err}).") from err

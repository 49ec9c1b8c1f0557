"""A stack of layers: adding, building, the summary table, and the weights.

Sequential (sequential.py) adds compile, fit, evaluate and predict to this.
"""
import re

import numpy as np  # host side: weights handed to and from the user

from .. import backend
from ..nn.base import Layer, textbook_twin
from . import keras_files, saving
from .runner import Runner


class Network:
    def __init__(self, layers=None, name="sequential"):
        self.name = name
        self.layers = []
        self.runner = Runner(self.layers)   # the step's engine (runner.py), sharing the list
        self._counts = {}                   # layer kind -> how many have been named
        if isinstance(layers, Layer):
            raise TypeError(f"Sequential: pass a list of layers, Sequential([{type(layers).__name__}"
                            "(...), ...]), not one layer.")
        for layer in layers or []:
            self.add(layer)

    # ---- building --------------------------------------------------------
    def add(self, layer):
        """Append a layer; the first one should carry input_shape=(H, W, C)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential: expected a layer (minicnn.layers), got "
                            f"{type(layer).__name__} {layer!r}.")
        if layer.name is None:
            kind = _snake(type(layer).__name__)
            self._counts[kind] = self._counts.get(kind, 0) + 1
            layer.name = f"{kind}_{self._counts[kind]}"
        self.layers.append(layer)

    @property
    def input_shape(self):
        """(None, H, W, C): the first layer's input shape with Keras' batch axis (None: any
        size); None while unknown."""
        if not self.layers or self.layers[0].input_shape is None:
            return None
        return (None,) + tuple(self.layers[0].input_shape)

    def build(self, input_shape=None):
        """Build every layer, threading the shapes through; idempotent."""
        if not self.layers:
            raise ValueError("Sequential: the model has no layers; add() some first.")
        shape = input_shape or self.layers[0].input_shape
        if shape is not None and len(shape) > 1 and shape[0] is None:
            shape = shape[1:]                  # Keras' form, with the batch axis: (None, H, W, C)
        if shape is None:
            raise ValueError("Sequential: unknown input shape; give the first layer "
                             "input_shape=(H, W, C), e.g. Conv2D(8, 3, input_shape=(28, 28, 1)).")
        shape = tuple(shape)
        for layer in self.layers:
            if layer.built and tuple(layer.input_shape) != shape:
                raise ValueError(f"{layer.name}: built for input {layer.input_shape}, "
                                 f"but the previous layer outputs {shape}.")
            if not layer.built:
                layer.build(shape)
            shape = layer.output_shape
        return shape

    @property
    def output_shape(self):
        """(None, classes): the last layer's output shape with Keras' batch axis; builds."""
        return (None,) + tuple(self.build())

    def get_layer(self, name=None, index=None):
        """A layer by its index in model.layers (when given) or by its name, as Keras."""
        if index is not None:
            if not isinstance(index, int) or isinstance(index, bool) or \
                    not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: asked for the layer at index {index!r}, but the "
                                 f"model has {len(self.layers)} layers.")
            return self.layers[index]
        if not name:
            raise ValueError("get_layer: give a layer name or an index.")
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = ", ".join(layer.name for layer in self.layers)
        raise ValueError(f"get_layer: no layer named {name!r}; the layers are {names}.")

    def pop(self):
        """Remove the last layer (Keras' Sequential.pop); compile again before training."""
        if not self.layers:
            raise TypeError("pop: there are no layers in the model.")
        self.layers.pop()
        self.runner.reset()
        if hasattr(self, "training_config"):
            self.training_config = None

    # ---- inspecting ------------------------------------------------------
    def count_params(self):
        self.build()
        return sum(layer.count_params() for layer in self.layers)

    def receptive_fields(self):
        """[(receptive field, jump)] after each layer; (None, None) once Flatten is passed.

        r_out = r_in + (k - 1) * j_in,   j_out = j_in * s   (r = j = 1 at the input),
        along the height axis (kernel_size[0], strides[0]); the assignment's are square.
        """
        self.build()
        r, j, out = 1, 1, []
        for layer in self.layers:
            if len(layer.output_shape) != 3:
                r = j = None
            if r is not None:
                r, j = r + (layer.rf_kernel - 1) * j, j * layer.rf_stride
            out.append((r, j))
        return out

    def summary(self, print_fn=print):
        """Keras' summary table, plus each layer's receptive field and jump."""
        self.build()
        widths = (29, 26, 10, 9, 5)
        line = "_" * sum(widths)
        rows = [f'Model: "{self.name}"', line,
                _row(("Layer (type)", "Output Shape", "Param #", "RF", "Jump"), widths),
                "=" * sum(widths)]
        for i, (layer, (r, j)) in enumerate(zip(self.layers, self.receptive_fields())):
            shape = "(None, " + ", ".join(str(d) for d in layer.output_shape) + ")"
            kind = getattr(layer, "type_name", type(layer).__name__)
            label = f"{layer.name} ({kind})"
            rows.append(_row((label, shape, f"{layer.count_params()}",
                              "-" if r is None else str(r), "-" if j is None else str(j)), widths))
            rows.append(line if i < len(self.layers) - 1 else "=" * sum(widths))
        trainable, non_trainable = self._param_counts()
        rows += [f"Total params: {trainable + non_trainable:,}",
                 f"Trainable params: {trainable:,}",
                 f"Non-trainable params: {non_trainable:,}", line,
                 "RF: receptive field of one output pixel, in input pixels; "
                 "Jump: input pixels between neighbouring outputs."]
        print_fn("\n".join(rows))

    @property
    def trainable_weights(self):
        """The trainable weight arrays (params of trainable layers), the model's own."""
        self.build()
        return [a for layer in self.layers if layer.trainable for a in layer.params.values()]

    @property
    def non_trainable_weights(self):
        """The other weight arrays: params of frozen layers, then every layer's state."""
        self.build()
        frozen = [a for layer in self.layers if not layer.trainable for a in layer.params.values()]
        return frozen + [a for layer in self.layers for a in layer.state.values()]

    @property
    def weights(self):
        return self.weight_arrays()

    def _param_counts(self):
        trainable = non_trainable = 0
        for layer in self.layers:
            n_params = sum(int(p.size) for p in layer.params.values())
            n_state = sum(int(s.size) for s in layer.state.values())
            if layer.trainable:
                trainable += n_params
            else:
                non_trainable += n_params
            non_trainable += n_state
        return trainable, non_trainable

    # ---- weights ---------------------------------------------------------
    def weight_slots(self):
        """(layer index, layer, kind, key) in Keras order: kernel, bias, gamma, beta,
        moving statistics; kind is "params" or "state"."""
        self.build()
        return [(i, layer, kind, key) for i, layer in enumerate(self.layers)
                for kind, group in (("params", layer.params), ("state", layer.state))
                for key in group]

    def weight_arrays(self):
        """The model's own weight arrays (not copies), in weight_slots order."""
        return [getattr(layer, kind)[key] for _, layer, kind, key in self.weight_slots()]

    def get_weights(self):
        """Host copies of every weight, in Keras' order."""
        return [np.array(backend.to_host(a)) for a in self.weight_arrays()]

    def set_weights(self, weights):
        """Set every weight from a list in get_weights() order; checks every shape and value
        (finite real numbers that stay finite in the model's floatx) before it changes any."""
        slots = self.weight_slots()
        if len(weights) != len(slots):
            raise ValueError(f"set_weights: the model has {len(slots)} weight arrays, "
                             f"got {len(weights)}.")
        host = []
        for (_, layer, kind, key), w in zip(slots, weights):
            current = getattr(layer, kind)[key]
            shape = tuple(w.shape) if hasattr(w, "shape") else np.shape(w)   # host or device
            if shape != tuple(current.shape):
                raise ValueError(f"set_weights: {layer.name}/{key} has shape "
                                 f"{tuple(current.shape)}, got {shape}.")
            host.append(saving.floatx_values(backend.to_host(w), current.dtype,
                                             f"set_weights: {layer.name}/{key}",
                                             "pass finite real numbers"))
        for (_, layer, kind, key), w in zip(slots, host):
            getattr(layer, kind)[key][...] = backend.to_device(w, dtype=backend.floatx())

    def save_weights(self, path, overwrite=True):
        """Write every weight to an .npz file, atomically (model/saving.py). (``overwrite``
        is Keras' argument: an existing file is always replaced, atomically.)"""
        keras_files.refuse_hdf5("save_weights", path)
        saving.save_weights(self, path)

    def load_weights(self, path, by_name=False):
        """Load an .npz written by save_weights; the model is unchanged on any error."""
        keras_files.refuse_hdf5("load_weights", path)
        if by_name:
            raise ValueError("load_weights: by_name=True matches HDF5 layer names; minicnn's "
                             ".npz files are matched by layer order: leave by_name False.")
        saving.load_weights(self, path)

    # ---- the whole model: architecture, weights and optimizer (keras_files.py) ------
    def get_config(self):
        """Keras' Sequential config: {"name": ..., "layers": [{"class_name", "config"}, ...]}."""
        return keras_files.model_config(self)["config"]

    def to_json(self, **kwargs):
        """The architecture as JSON, {"class_name": "Sequential", "config": {...}};
        minicnn.models.model_from_json(text) rebuilds it (new weights)."""
        return keras_files.to_json(self, **kwargs)

    def save(self, path, overwrite=True, include_optimizer=True):
        """Write the whole model (architecture, weights, optimizer and its state) to one
        .npz file, atomically; minicnn.models.load_model(path) reads it back."""
        keras_files.save_model(self, path, include_optimizer=include_optimizer)


def textbook_copy(model):
    """A new, uncompiled model of the same layers as their textbook classes (minicnn/nn),
    with the same weights if ``model`` is built: the readable code, the same numbers.

    A fast layer's textbook class is the class in minicnn/nn it derives from
    (nn.base.textbook_twin); a textbook layer is copied as it is.
    """
    copy = type(model)(name=model.name)
    for layer in model.layers:
        twin = textbook_twin(layer)
        twin.trainable = layer.trainable
        copy.add(twin)
    if all(layer.built for layer in model.layers):
        copy.build()
        copy.set_weights(model.get_weights())
    return copy


def _snake(name):
    """A class name as Keras writes layer names: MaxPooling2D -> max_pooling2d, ReLU -> re_lu."""
    out = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)     # an underscore before each Word
    out = re.sub(r"([a-z])([A-Z])", r"\1_\2", out).lower()     # and inside runs: ReLU -> Re_LU
    return out.replace("convolution2d", "conv2d")


def _row(cells, widths):
    return "".join(str(c)[:w - 1].ljust(w) for c, w in zip(cells, widths)).rstrip()

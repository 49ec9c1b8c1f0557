"""minicnn: a from-scratch convolutional-network library in NumPy, with a CuPy backend.

``import minicnn as keras`` gives Keras 2.2's modules under their names
(keras.layers, keras.models, keras.optimizers, keras.losses, keras.metrics,
keras.callbacks, keras.regularizers, keras.initializers, keras.utils with
np_utils, keras.backend, keras.datasets, keras.preprocessing) and
keras.Sequential; minicnn's own are here too (nn, the textbook; fast).
"""
from . import (
    backend,
    callbacks,
    datasets,
    fast,
    initializers,
    layers,
    losses,
    metrics,
    models,
    nn,
    optimizers,
    preprocessing,
    regularizers,
    schedules,
    utils,
)
from .backend import floatx, get_backend, seed, set_backend, set_floatx, to_device, to_host
from .models import Sequential

__version__ = "0.1.0"
__all__ = ["Sequential", "backend", "callbacks", "datasets", "fast", "floatx", "get_backend",
           "initializers", "layers", "losses", "metrics", "models", "nn", "optimizers",
           "preprocessing", "regularizers", "schedules", "seed", "set_backend", "set_floatx",
           "to_device", "to_host", "utils"]

"""minicnn: a from-scratch convolutional-network library in NumPy, with a CuPy backend."""
from . import backend, initializers, layers, losses
from .backend import floatx, get_backend, seed, set_backend, set_floatx, to_device, to_host

__version__ = "0.1.0"
__all__ = ["backend", "floatx", "get_backend", "initializers", "layers", "losses", "seed",
           "set_backend", "set_floatx", "to_device", "to_host"]

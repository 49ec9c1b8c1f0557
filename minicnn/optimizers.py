"""The optimizers under their Keras names: ``from minicnn.optimizers import SGD, Adam``.

All seven of Keras 2.2: SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam,
with Keras' arguments and defaults, ``decay`` (all but Nadam, as in Keras),
``clipnorm`` and ``clipvalue`` (all), and Adam's ``amsgrad``.

SGD and Adam are the fast classes (minicnn/fast/optimizers.py); the textbook
ones, which compute the same updates, are ``minicnn.nn.SGD`` and
``minicnn.nn.Adam``. RMSprop, Adagrad, Adadelta, Adamax and Nadam have no fast
class: the names here are the textbook classes of minicnn/nn/optimizers.py.

``get`` turns what ``compile`` receives into an optimizer: an optimizer object
(returned as is), a Keras name in any case ("adam", "RMSprop"), or a dict
``{"class_name": "Adam", "config": {...}}`` as ``serialize`` writes it for a
model file.
"""
from .fast.optimizers import SGD, Adam
from .nn.optimizers import Adadelta, Adagrad, Adamax, Nadam, Optimizer, RMSprop

__all__ = ["Adadelta", "Adagrad", "Adam", "Adamax", "Nadam", "Optimizer", "RMSprop", "SGD",
           "adadelta", "adagrad", "adam", "adamax", "deserialize", "get", "nadam", "rmsprop",
           "serialize", "sgd"]

# Keras' lower-case aliases of the classes.
sgd, rmsprop, adagrad, adadelta, adam, adamax, nadam = SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam

_BY_NAME = {cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam)}


def serialize(optimizer):
    """``{"class_name": ..., "config": optimizer.get_config()}``: what a model file stores;
    ``get`` (or ``deserialize``) makes a new optimizer from it, with no state."""
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"serialize: expected a minicnn optimizer such as Adam(), got {optimizer!r}.")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    """A new optimizer from ``{"class_name": name, "config": {argument: value}}`` (the
    class name in any case; a missing "config" means the defaults)."""
    if not (isinstance(config, dict) and isinstance(config.get("class_name"), str)):
        raise ValueError(f"An optimizer dict needs a 'class_name' string, such as "
                         f"{{'class_name': 'Adam', 'config': {{'lr': 0.001}}}}; got {config!r}.")
    extra = set(config) - {"class_name", "config"}
    if extra:
        raise ValueError(f"An optimizer dict has only 'class_name' and 'config'; got also "
                         f"{sorted(extra)}.")
    cls = _class_named(config["class_name"])
    arguments = config.get("config") or {}
    if not isinstance(arguments, dict):
        raise ValueError(f"The 'config' of an optimizer dict must be a dict of constructor "
                         f"arguments, got {arguments!r}.")
    unknown = sorted(set(arguments) - set(cls().get_config()))
    if unknown:
        raise ValueError(f"{cls.__name__} has no argument(s) {unknown}; it takes "
                         f"{sorted(cls().get_config())}.")
    return cls(**arguments)


def get(identifier):
    """An optimizer from a Keras name ("sgd", "rmsprop", "adagrad", "adadelta", "adam",
    "adamax", "nadam", any case) with its defaults, or from a dict as ``serialize``
    makes; an optimizer object is returned as is."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return _class_named(identifier)()
    raise ValueError(
        f"Cannot make an optimizer from {identifier!r}: pass a name ({', '.join(sorted(_BY_NAME))}), "
        "a dict {'class_name': ..., 'config': {...}}, or an optimizer object such as "
        "minicnn.optimizers.Adam(lr=0.001).")


def _class_named(name):
    cls = _BY_NAME.get(name.lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer {name!r}: use one of {sorted(_BY_NAME)} "
                         "(any case) or pass an optimizer object such as "
                         "minicnn.optimizers.Adam(lr=0.001).")
    return cls

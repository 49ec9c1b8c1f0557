"""The model under its Keras names: ``from minicnn.models import Sequential, load_model``
(the code is in minicnn/model/)."""
from .model import Sequential, textbook_copy
from .model.keras_files import load_model, model_from_config, model_from_json

__all__ = ["Sequential", "load_model", "model_from_config", "model_from_json", "textbook_copy"]

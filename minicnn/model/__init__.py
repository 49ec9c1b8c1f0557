"""Sequential, split by concern, one file each:

    topology.py    the stack of layers: add, build, summary, weights (Network)
    sequential.py  compile, fit, evaluate, predict, and their generator forms (Sequential)
    runner.py      one training step and one inference pass (Runner), the loss's fusion
    loops.py       the loops over batches and epochs, callbacks, undoing a failed epoch
    generators.py  batches from generators, iterators and Sequence-like objects
    checks.py      the checks data and settings pass on their way in
    saving.py      weights files
    keras_files.py whole-model files (save, load_model) and configs (to_json)
"""
from .sequential import Sequential
from .topology import textbook_copy

__all__ = ["Sequential", "textbook_copy"]

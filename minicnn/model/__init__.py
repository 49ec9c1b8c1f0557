"""Sequential, split by concern, one file each:

    topology.py    the stack of layers: add, build, summary, weights (Network)
    sequential.py  compile, fit, evaluate, predict (Sequential)
    runner.py      one training step and one inference pass (Runner)
    loops.py       the loops over batches and epochs, callbacks, undoing a failed epoch
    checks.py      the checks data and settings pass on their way in
    saving.py      weights files
"""
from .sequential import Sequential
from .topology import textbook_copy

__all__ = ["Sequential", "textbook_copy"]

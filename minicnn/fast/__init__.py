"""The same maths as the textbook (minicnn/nn), faster.

Each class here subclasses its textbook class and overrides only what it
speeds up (its module docstring says what and why); the parameters, build,
shapes and Keras arguments are the textbook's. tests/test_fast_equals_textbook.py
checks every one against its textbook class. ``minicnn.layers`` and
``minicnn.optimizers`` hand out these classes.

    conv.py           Conv2D: columns in cache-sized pieces, a ones column for the
                      bias, products in row blocks, gradients on the padded grid
    pooling.py        MaxPooling2D: the 2x2 window's corners as strided views
    normalization.py  BatchNormalization: fewer passes, synchronised over processes
    dropout.py        Dropout: the mask drawn and applied in parts
    optimizers.py     SGD, Adam: in-place updates, no temporaries
    inference.py      batch norms folded into the next convolution for inference

and the machinery they share:

    threads.py   a layer's batch in parts, one thread each (set_threads)
    team.py      a batch split over processes, one per core (set_processes)
    split.py     what a layer asks when its batch is split over processes
    gemm.py      matrix products in row blocks sized for OpenBLAS's small kernels
    channels.py  per-channel arithmetic on long rows
    columns.py   im2col as one strided copy; col2im one kernel offset at a time
    kernels.py   fused CuPy kernels (GPU only)
    memory.py    scratch arrays kept between steps; freed memory kept by malloc
    graph.py     the training step and evaluation as CUDA graphs (GPU only;
                 set_enabled(False) turns them off)
    cublas.py    cuBLAS products that a CUDA graph's recording accepts (graph.py)
"""
from .conv import Conv2D
from .dropout import Dropout
from .normalization import BatchNormalization
from .optimizers import SGD, Adam
from .pooling import MaxPooling2D
from .team import get_processes, set_processes
from .threads import get_threads, set_threads

__all__ = ["Adam", "BatchNormalization", "Conv2D", "Dropout", "MaxPooling2D", "SGD",
           "get_processes", "get_threads", "set_processes", "set_threads"]

"""Products whole or in row blocks (minicnn/fast/gemm.py): whole training steps, alternating.

The NumPy fast paths cut each matrix product into row blocks of at most
gemm.SMALL_MACS multiply-adds, the size OpenBLAS multiplies with its faster
small-product kernels. This times one training step (model.runner.train_step)
and one inference pass of a model in this one process, on one thread, with
the limit at --old (default 0: every product whole) and at --new (default:
the library's), in turn --rounds times; the ratio of each round is printed,
since this machine's speed drifts between minutes.

    OPENBLAS_NUM_THREADS=1 python benchmarks/ab_gemm_blocks.py --model vanilla --batch-size 32
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from ab_conv_columns import compare_values  # noqa: E402

from minicnn.fast import gemm  # noqa: E402


def main(argv=None):
    return compare_values(argv, __doc__, gemm, "SMALL_MACS", int,
                          lambda macs: "whole" if macs == 0 else f"blocks of {macs:,}")


if __name__ == "__main__":
    sys.exit(main())

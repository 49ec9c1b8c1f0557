"""Conv2D gradients by im2col or on the padded grid: whole training steps, alternating.

Stride-1 Conv2D layers whose padded image has at most conv.GRID_RATIO times
the output's pixels take their gradients on the padded grid, with no im2col
(docs/fast_cpu.md, Conv2D item 6). This times one training step
(model.runner.train_step) and one inference pass of a model in this one
process, on one thread, with the ratio at --old (default 0: no layer on the
grid) and at --new (default: the library's), in turn --rounds times; the
ratio of each round is printed, since this machine's speed drifts between
minutes.

    OPENBLAS_NUM_THREADS=1 python benchmarks/ab_conv_grid.py --model vanilla --batch-size 32
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from ab_conv_columns import compare_values  # noqa: E402

from minicnn.fast import conv  # noqa: E402


def main(argv=None):
    return compare_values(argv, __doc__, conv, "GRID_RATIO", float,
                          lambda ratio: "im2col" if ratio == 0 else f"grid up to {ratio:g}")


if __name__ == "__main__":
    sys.exit(main())

"""Conv2D gradients by im2col or on the padded grid: whole training steps, alternating.

Stride-1 Conv2D layers whose padded image has at most conv.GRID_RATIO times
the output's pixels take their gradients on the padded grid, with no im2col
(docs/conv2d.md, item 8). This times one training step
(Sequential._train_step) and one inference pass of a model in this one
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

from minicnn import threads  # noqa: E402
from minicnn.layers import conv  # noqa: E402

from ab_conv_columns import alternate, parser  # noqa: E402
from bench_train import build_model, check_counts  # noqa: E402


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--old", type=float, default=0.0, metavar="RATIO",
                   help="first GRID_RATIO (default 0: every layer by im2col)")
    p.add_argument("--new", type=float, default=None, metavar="RATIO",
                   help="second GRID_RATIO (default: conv.GRID_RATIO)")
    args = p.parse_args(argv)
    check_counts(p, args, "batch_size", "rounds", "repeats")
    new = conv.GRID_RATIO if args.new is None else args.new
    if min(args.old, new) < 0:
        p.error("--old and --new must be 0 or more.")
    if args.old == new:
        p.error("--old and --new give the same ratio; nothing to compare.")
    threads.set_threads(1)
    model, _ = build_model(args.model)
    settings = {("im2col" if r == 0 else f"grid up to {r:g}"): r for r in (args.old, new)}
    alternate(args, model, settings, conv, "GRID_RATIO")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Products whole or in row blocks (minicnn/gemm.py): whole training steps, alternating.

The NumPy fast paths cut each matrix product into row blocks of at most
gemm.SMALL_MACS multiply-adds, the size OpenBLAS multiplies with its faster
small-product kernels. This times one training step (Sequential._train_step)
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

from minicnn import gemm, threads  # noqa: E402

from ab_conv_columns import alternate, parser  # noqa: E402
from bench_train import build_model, check_counts  # noqa: E402


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--old", type=int, default=0, metavar="MACS",
                   help="first limit in multiply-adds per block (default 0: products whole)")
    p.add_argument("--new", type=int, default=None, metavar="MACS",
                   help="second limit (default: gemm.SMALL_MACS)")
    args = p.parse_args(argv)
    check_counts(p, args, "batch_size", "rounds", "repeats")
    check_counts(p, args, "old", "new", least=0)
    new = gemm.SMALL_MACS if args.new is None else args.new
    if args.old == new:
        p.error("--old and --new give the same limit; nothing to compare.")
    threads.set_threads(1)
    model, _ = build_model(args.model)
    settings = {("whole" if args.old == 0 else f"blocks of {args.old:,}"): args.old,
                ("whole" if new == 0 else f"blocks of {new:,}"): new}
    alternate(args, model, settings, gemm, "SMALL_MACS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

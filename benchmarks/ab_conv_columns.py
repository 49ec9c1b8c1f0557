"""Kept or rebuilt im2col columns: whole training steps with two limits, alternating.

Conv2D keeps a layer's im2col columns for backward up to conv.KEEP_COLS_BYTES
and rebuilds larger ones piece by piece (docs/fast_cpu.md). This times one
training step (model.runner.train_step) and one inference pass of a model in
this one process, on one thread, with the limit at --old and at --new (MiB;
default: columns always kept, and the library's limit), in turn --rounds
times; the ratio of each round is printed, since this machine's speed drifts
between minutes.

    OPENBLAS_NUM_THREADS=1 python benchmarks/ab_conv_columns.py --model vanilla --batch-size 32
    OPENBLAS_NUM_THREADS=1 python benchmarks/ab_conv_columns.py --model other-2 --old 8 --new 2
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_train import assignment4, build_model, check_counts, device_batches, median_seconds  # noqa: E402

from minicnn.fast import conv, threads  # noqa: E402


def median_ms(fn, repeats):
    """One untimed call (a warm-up), then bench_train's median over ``repeats`` calls, in ms."""
    fn()
    return 1e3 * median_seconds(fn, repeats)


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--old", type=float, default=None, metavar="MIB",
                   help="first limit in MiB (default: no limit, every layer keeps its columns)")
    p.add_argument("--new", type=float, default=None, metavar="MIB",
                   help="second limit in MiB (default: conv.KEEP_COLS_BYTES)")
    args = p.parse_args(argv)
    check_counts(p, args, "batch_size", "rounds", "repeats")
    threads.set_threads(1)
    model, _ = build_model(args.model)
    old = 1 << 62 if args.old is None else int(args.old * (1 << 20))   # bytes
    new = conv.KEEP_COLS_BYTES if args.new is None else int(args.new * (1 << 20))
    settings = {"kept" if args.old is None else f"limit {args.old:g} MiB": old,
                f"limit {new / (1 << 20):g} MiB": new}
    if old == new or len(settings) < 2:
        p.error("--old and --new give the same limit; nothing to compare.")
    alternate(args, model, settings, conv, "KEEP_COLS_BYTES")
    return 0


def parser(doc):
    """The flags every A/B script of this kind takes: --model, --batch-size, --rounds, --repeats."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--model", default="vanilla", choices=list(assignment4.MODELS))
    p.add_argument("--batch-size", type=int, default=32, help="one process's share of a batch")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=10, help="timings per figure; the median is used")
    return p


def compare_values(argv, doc, module, attribute, kind, name):
    """main() of an A/B script over one number, module.attribute: --old (default 0)
    against --new (default: the library's value), both of type ``kind`` and >= 0;
    name(value) labels each in the output."""
    p = parser(doc)
    p.add_argument("--old", type=kind, default=kind(0), help="first value (default 0)")
    p.add_argument("--new", type=kind, default=None,
                   help=f"second value (default: the library's {attribute})")
    args = p.parse_args(argv)
    check_counts(p, args, "batch_size", "rounds", "repeats")
    check_counts(p, args, "old", "new", least=0)
    new = getattr(module, attribute) if args.new is None else args.new
    if args.old == new:
        p.error("--old and --new give the same value; nothing to compare.")
    threads.set_threads(1)
    model, _ = build_model(args.model)
    alternate(args, model, {name(args.old): args.old, name(new): new}, module, attribute)
    return 0


def alternate(args, model, settings, module, attribute):
    """Time training steps and inference passes of ``model`` on one batch of
    args.batch_size images with module.attribute set to each of ``settings``
    ({name: value}, two of them) in turn, args.rounds times; print both
    medians and each round's ratio, second setting over first. The attribute
    gets its value back afterwards."""
    (x, t, labels), = device_batches(model, args.batch_size, 1, 0)
    runner = model.runner
    infer = runner.inference_layers("outputs")
    train = {k: [] for k in settings}
    predict = {k: [] for k in settings}
    saved = getattr(module, attribute)
    try:
        for _ in range(args.rounds):
            for name, value in settings.items():
                setattr(module, attribute, value)
                train[name].append(median_ms(lambda: runner.train_step(x, t, labels), args.repeats))
                predict[name].append(median_ms(lambda: runner.forward(x, False, infer), args.repeats))
    finally:
        setattr(module, attribute, saved)
    a, b = settings
    for what, figures in (("training step", train), ("inference pass", predict)):
        ratios = [new / old for old, new in zip(figures[a], figures[b])]
        print(f"{args.model}, {args.batch_size} images, {what}: {a} {statistics.median(figures[a]):.2f} ms, "
              f"{b} {statistics.median(figures[b]):.2f} ms; ratio per round "
              + " ".join(f"{r:.3f}" for r in ratios) + f" (median {statistics.median(ratios):.3f})")


if __name__ == "__main__":
    sys.exit(main())

"""Forward and backward time of every layer of an assignment model, at its real shapes.

The model ("Go Crazy" unless --model says otherwise) is built and compiled as
examples/assignment4.py does, and takes --warmup training steps on random
MNIST-shaped data. One forward pass in training mode then records the real
input of every layer. Each layer is timed on its own, --repeats times:
forward(recorded input, training=True), then backward(a random gradient of its
output's shape); each figure is the median. The fused softmax cross-entropy and
the optimizer step get rows of their own, so the table covers a whole training
step, and the full step (model.runner.train_step) is timed as a check of the sum.
On CuPy the device is synchronised before every clock reading. The layers run
in this one process (fit splits a batch over processes, minicnn/fast/team.py;
--threads 1 --batch-size 64 shows one of two processes' share of a Go Crazy step).
--textbook times the textbook classes (minicnn/nn), on one thread.

    python benchmarks/bench_layers.py                      # NumPy, batch 128
    python benchmarks/bench_layers.py --textbook --threads 1   # the textbook classes (minicnn/nn)
    python benchmarks/bench_layers.py --backend cupy --json layers.json
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # minicnn, without installing it
sys.path.insert(0, HERE)                    # bench_train's helpers

import numpy as np  # noqa: E402  host side: random gradients
from bench_train import (  # noqa: E402
    assignment4,
    build_model,
    check_counts,
    configure_parallel,
    device_batches,
    device_info,
    median_seconds,
    use_backend,
    write_json,
)

import minicnn  # noqa: E402
from minicnn import backend  # noqa: E402


def time_layers(model, batch, repeats, seed):
    """[row] with each layer's forward and backward median seconds on its real input."""
    x, t, _ = batch
    layers = model.runner.logit_layers
    inputs = []
    for layer in layers:                                    # the real activations
        inputs.append(x)
        x = layer.forward(x, training=True)
    logits = x
    rng = np.random.default_rng(seed)
    rows = []
    for layer, x_in in zip(layers, inputs):
        out_shape = tuple(layer.forward(x_in.copy(), training=True).shape)
        grad = backend.to_device(rng.standard_normal(out_shape, dtype=np.float32) * np.float32(1e-3),
                                 dtype=backend.floatx())
        layer.backward(grad.copy())                         # untimed: one more warm-up
        # fresh copies every time (untimed), in case a layer works in place on its argument;
        # forward and backward alternate, as in a step, so backward uses its own forward's cache
        fwd = median_seconds(lambda a: layer.forward(a, training=True), repeats,
                             prepare=lambda: (x_in.copy(),))
        bwd = median_seconds(layer.backward, repeats, prepare=lambda: _forward_then(layer, x_in, grad))
        rows.append({"layer": layer.name, "type": type(layer).__name__, "output_shape": out_shape,
                     "forward_s": fwd, "backward_s": bwd})
    loss = model.loss
    fwd = median_seconds(lambda: loss.forward(logits, t, validate=False), repeats)
    bwd = median_seconds(loss.backward, repeats)
    rows.append({"layer": "loss", "type": "SoftmaxCrossEntropy", "output_shape": (),
                 "forward_s": fwd, "backward_s": bwd})
    params = [layer.params[key] for layer, key in model.runner.slots]
    grads = [layer.grads[key] for layer, key in model.runner.slots]
    step = median_seconds(lambda: model.optimizer.step(params, grads), repeats)
    rows.append({"layer": "optimizer", "type": type(model.optimizer).__name__,
                 "output_shape": None, "forward_s": 0.0, "backward_s": step})
    return rows


def _forward_then(layer, x_in, grad):
    """Untimed set-up of one backward timing: a forward on the real input, a fresh gradient."""
    layer.forward(x_in.copy(), training=True)
    return (grad.copy(),)


def print_table(rows, step_s, args, info, threads):
    total = sum(r["forward_s"] + r["backward_s"] for r in rows)
    where = info.get("gpu") or info["cpu"]
    print(f"\n{args.model}: batch {args.batch_size}, float32, {info['backend']} ({where}), "
          f"{'textbook classes, ' if args.textbook else ''}{threads['threads']} thread(s) "
          f"({threads['blas']}), median of {args.repeats}")
    head = (f"{'layer':<24} {'type':<20} {'output shape':<20} {'fwd ms':>9} {'bwd ms':>9} "
            f"{'share':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        shape = "-" if r["output_shape"] is None else str(r["output_shape"])
        fwd = "-" if r["layer"] == "optimizer" else f"{1e3 * r['forward_s']:.3f}"
        print(f"{r['layer']:<24} {r['type']:<20} {shape:<20} {fwd:>9} "
              f"{1e3 * r['backward_s']:>9.3f} {100 * (r['forward_s'] + r['backward_s']) / total:>6.1f}%")
    print("-" * len(head))
    fwd_total = sum(r["forward_s"] for r in rows)
    bwd_total = sum(r["backward_s"] for r in rows)
    print(f"{'total':<24} {'':<20} {'':<20} {1e3 * fwd_total:>9.3f} {1e3 * bwd_total:>9.3f} "
          f"{'100.0%':>7}")
    print(f"sum of the rows {1e3 * total:.3f} ms; one whole training step (train_step) "
          f"{1e3 * step_s:.3f} ms; optimizer time is in the bwd column.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--model", default="go-crazy", choices=list(assignment4.MODELS))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20, help="timings per figure; the median is shown")
    p.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    p.add_argument("--textbook", action="store_true",
                   help="time the textbook classes (minicnn/nn: textbook_copy, textbook_twin), "
                        "on one thread")
    p.add_argument("--threads", type=int, default=None,
                   help="minicnn threads (minicnn.fast.set_threads); default: one per core")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, metavar="PATH", help="write the table's data to PATH")
    args = p.parse_args(argv)
    check_counts(p, args, "repeats", "threads")
    check_counts(p, args, "batch_size", least=2)
    check_counts(p, args, "warmup", least=0)

    use_backend(args.backend, p)
    threads = configure_parallel(1, args.threads, args.textbook)   # layers run in this process
    info = device_info()
    minicnn.seed(args.seed)
    model, _ = build_model(args.model, args.textbook)
    batches = device_batches(model, args.batch_size, max(args.warmup, 1), args.seed)
    for i in range(args.warmup):
        model.runner.train_step(*batches[i])
    rows = time_layers(model, batches[0], args.repeats, args.seed)
    step_s = median_seconds(lambda: model.runner.train_step(*batches[0]), args.repeats)
    print_table(rows, step_s, args, info, threads)
    if args.json:
        total = sum(r["forward_s"] + r["backward_s"] for r in rows)
        for r in rows:
            r["share"] = (r["forward_s"] + r["backward_s"]) / total
        write_json(args.json, "layers", args, info=info, threads=threads, layers=rows,
                   totals={"forward_s": sum(r["forward_s"] for r in rows),
                           "backward_s": sum(r["backward_s"] for r in rows),
                           "sum_s": total, "train_step_s": step_s})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where PyTorch's training step goes, per operator: the counterpart of bench_layers.

Builds an assignment model in PyTorch exactly as ``bench_train.py --compare
torch`` does, times whole training steps, then profiles some of them with
torch.profiler and prints each operator's time per step, grouped by input
shapes (so each convolution shows up on its own row). Set beside

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_layers.py --model vanilla --batch-size 32 --threads 1
    python benchmarks/torch_layers.py --model vanilla --batch-size 32 --threads 1

it shows which layers PyTorch computes faster. PyTorch is optional and never a
dependency of minicnn. By default this process first makes minicnn's malloc
setting (minicnn/fast/memory.py), as bench_train's "torch here" timings share it;
``--own-malloc`` leaves glibc's malloc as PyTorch's users have it.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_train import (  # noqa: E402
    assignment4,
    build_model,
    check_counts,
    import_torch,
    median_seconds,
    torch_model,
    torch_optimizer,
)

from minicnn.fast import memory  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vanilla", choices=list(assignment4.MODELS))
    p.add_argument("--batch-size", type=int, default=None, help="default: the model's own")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--steps", type=int, default=30, help="profiled steps (after as many timed)")
    p.add_argument("--rows", type=int, default=25, help="operators shown")
    p.add_argument("--own-malloc", action="store_true",
                   help="leave glibc's malloc as it is (PyTorch as its users run it)")
    args = p.parse_args(argv)
    check_counts(p, args, "batch_size", "threads", "steps", "rows")
    torch = import_torch("torch_layers.py")
    if not args.own_malloc:
        memory.keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, batch_size = build_model(args.model)
    batch_size = batch_size if args.batch_size is None else args.batch_size
    net = torch_model(model, torch)
    opt = torch_optimizer(model.optimizer, net.parameters(), torch)
    x = torch.rand((batch_size, 1, 28, 28))
    labels = torch.randint(0, 10, (batch_size,))

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), labels).backward()
        opt.step()

    for _ in range(10):                                   # warm-up
        step()
    step_s = median_seconds(step, args.steps)
    print(f"{args.model}: batch {batch_size}, PyTorch {torch.__version__}, {args.threads} thread(s), "
          f"{'own' if args.own_malloc else 'minicnn'}'s malloc setting; one training step "
          f"{1e3 * step_s:.2f} ms (median of {args.steps})")
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(args.steps):
            step()
    rows = sorted(prof.key_averages(group_by_input_shape=True),
                  key=lambda e: e.self_cpu_time_total, reverse=True)[:args.rows]
    print(f"{'operator':32s} {'ms/step':>8s}  input shapes")
    for e in rows:
        shapes = ", ".join(str(s) for s in e.input_shapes if s)[:70]
        print(f"{e.key[:32]:32s} {e.self_cpu_time_total / 1e3 / args.steps:8.3f}  {shapes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

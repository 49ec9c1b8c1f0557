"""Training and inference speed of the assignment's models, in images per second.

For each model of examples/assignment4.py, at its own batch size and float32:

  train      one optimiser step per batch (forward, fused softmax cross-entropy,
             backward, optimizer step) as fit runs it: split over one process
             per core (minicnn/fast/team.py) on NumPy; on CuPy the step fit calls
             (minicnn/fast/graph.py: a CUDA graph replayed per batch where it can
             be, else model.runner.train_step; the report says which ran);
             on data moved to the device beforehand, so no host transfer is timed;
  inference  a forward pass in inference mode over --infer-images images, in
             batches of the model's batch size, again on device data, through
             the layers predict() runs (batch norms folded into the next conv).

Each figure is the median of --repeats timed runs, after --warmup untimed steps;
on CuPy the device is synchronised before every clock reading. --rounds R
measures minicnn and torch alternately R times and reports medians (a ratio:
the median of the R rounds' ratios). Achieved GFLOP/s
come from the model's multiply-accumulate count (macs_per_image) and are printed
beside this machine's float32 GEMM rate (a 2048x2048 matrix product on the same
backend). --compare torch times the same architecture in PyTorch in the same run.
--textbook times the textbook classes (minicnn/nn) instead of the fast ones.
--graph off times CuPy's steps without CUDA graphs, --graph both with and without
them in each round (the ratio to torch is the graph's; the eager figures follow).

    python benchmarks/bench_train.py                          # go-crazy, NumPy
    python benchmarks/bench_train.py --model all --json train.json
    python benchmarks/bench_train.py --model all --compare torch --rounds 5
    python benchmarks/bench_train.py --processes 1 --threads 1 --compare torch
    python benchmarks/bench_train.py --textbook               # the readable classes, one thread
    python benchmarks/bench_train.py --backend cupy --compare torch
    python benchmarks/bench_train.py --backend cupy --model go-crazy,vanilla --graph both \
        --compare torch --rounds 3
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import assignment4  # noqa: E402  the models, their batch sizes and optimizers
import numpy as np  # noqa: E402  host side: synthetic data, medians

import minicnn  # noqa: E402
from minicnn import backend  # noqa: E402
from minicnn.fast import graph, threads  # noqa: E402
from minicnn.fast.team import get_processes, set_processes, team_for  # noqa: E402
from minicnn.model import checks  # noqa: E402
from minicnn.nn import (  # noqa: E402
    SGD,
    Activation,
    Adam,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
    ReLU,
    Softmax,
)

TORCH_HINT = "pip install torch==2.13.0"
IMAGE_SHAPE = (28, 28, 1)
CLASSES = 10


# ---- shared with bench_layers.py -------------------------------------------
synchronize = backend.synchronize  # wait for queued GPU work before reading a clock


def use_backend(name, parser):
    try:
        minicnn.set_backend(name)
    except RuntimeError as err:
        parser.exit(2, f"error: {err}\n")
    minicnn.set_floatx("float32")


def build_model(name, textbook=False):
    """(compiled model, batch size) for an assignment model name: the fast classes, or
    with ``textbook`` the textbook ones (minicnn/nn), as assignment4.build_model makes it."""
    return assignment4.build_model(name, textbook), assignment4.MODELS[name][2]


def device_batches(model, batch_size, n_batches, seed):
    """n_batches of random MNIST-shaped images with one-hot targets, on the device:
    [(x, targets, None)] (no sample weights), as fit() hands them to model.runner.train_step."""
    rng = np.random.default_rng(seed)
    n = batch_size * n_batches
    x = rng.random((n,) + IMAGE_SHAPE, dtype=np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, n)]
    x = checks.check_x(x, model.input_shape, "bench")
    t, _ = checks.check_y(y, n, model.output_shape[-1], "bench")
    return [(x[i:i + batch_size], t[i:i + batch_size], None) for i in range(0, n, batch_size)]


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info():
    """What ran the maths: versions, the CPU and, on CuPy, the GPU."""
    info = {"backend": backend.get_backend(), "floatx": backend.floatx(), "numpy": np.__version__,
            "python": platform.python_version(), "cpu": cpu_name(), "cpu_count": os.cpu_count()}
    if backend.get_backend() == "cupy":
        import cupy
        info["cupy"] = cupy.__version__
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
    return info


def check_counts(p, args, *flags, least=1):
    """argparse error unless each of ``flags`` (names in args) is None or >= ``least``."""
    for flag in flags:
        value = getattr(args, flag)
        if value is not None and value < least:
            p.error(f"--{flag.replace('_', '-')} must be >= {least}")


def median_seconds(fn, repeats, prepare=None):
    """Median wall time of fn() over ``repeats`` calls; prepare() runs untimed before each."""
    times = []
    for _ in range(repeats):
        args = prepare() if prepare is not None else ()
        synchronize()
        start = time.perf_counter()
        fn(*args)
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---- work per image ---------------------------------------------------------
def macs_per_image(model):
    """Multiply-accumulates of one image's forward pass: [(layer name, MACs)], total.

    Conv2D: H' * W' * kh * kw * C_in * filters;  Dense: inputs * units.
    Other layers (BN, pooling, dropout, activations) are element-wise and not counted.
    """
    model.build()
    rows = []
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            oh, ow, f = layer.output_shape
            kh, kw = layer.kernel_size
            macs = oh * ow * kh * kw * layer.input_shape[-1] * f
        elif isinstance(layer, Dense):
            macs = layer.input_shape[0] * layer.units
        else:
            continue
        rows.append((layer.name, int(macs)))
    return rows, sum(m for _, m in rows)


def flops_per_image(macs):
    """(forward, training) FLOPs per image: 2 FLOPs per MAC; training = forward + the
    two backward products (input and weight gradients) = 3 x forward."""
    return 2 * macs, 3 * 2 * macs


def gemm_gflops(n=2048, runs=5):
    """float32 rate of the backend's matmul on two n x n matrices: median of ``runs``."""
    xp = backend.xp()
    threads._blas.release()             # the machine's peak: BLAS with all of its own threads
    rng = np.random.default_rng(0)
    a = backend.to_device(rng.standard_normal((n, n), dtype=np.float32))
    b = backend.to_device(rng.standard_normal((n, n), dtype=np.float32))
    xp.matmul(a, b)                                           # warm-up (and cuBLAS set-up)
    seconds = median_seconds(lambda: xp.matmul(a, b), runs)
    return {"n": n, "runs": runs, "seconds": seconds, "gflops": 2.0 * n ** 3 / seconds / 1e9,
            "module": xp.__name__}


# ---- processes and threads ---------------------------------------------------
def configure_parallel(processes, thread_count, textbook=False):
    """Use ``processes`` (None: minicnn's default, one per core) and report what runs.

    fit() splits each batch over one process per core (minicnn/fast/team.py), each
    on one thread with OpenBLAS at one thread per call; this script times the
    same. With one process, the NumPy fast paths split each batch over
    ``thread_count`` threads instead (minicnn/fast/threads.py). ``textbook``: the
    model has the textbook classes (minicnn/nn), which run on the calling thread
    and leave NumPy's BLAS at its own thread count, in one process (a model with
    no batch norm or dropout would otherwise be split over the team).
    torch gets the cores in use.
    """
    if textbook:
        set_processes(1)
        threads.set_threads(1)
    else:
        if processes:
            set_processes(processes)
        if thread_count:
            threads.set_threads(thread_count)
    on_numpy = backend.get_backend() == "numpy"
    n_proc = get_processes() if on_numpy else 1
    n_threads = 1 if n_proc > 1 else (threads.get_threads() if on_numpy else 1)
    if n_proc > 1 or (n_threads > 1 and threads._blas.found()):
        blas = "OpenBLAS held at 1 thread per call"
    else:
        blas = "NumPy's BLAS at its own thread count"
    return {"requested_processes": processes, "requested_threads": thread_count,
            "processes": n_proc, "threads": n_threads, "cores": max(n_proc, n_threads),
            "blas": blas}


# ---- minicnn timings --------------------------------------------------------
def time_minicnn(model, batch_size, steps, repeats, warmup, infer_images, seed, graphs=True):
    """Train and inference images/s of a compiled minicnn model (medians of ``repeats``),
    and how the training steps ran (step_kind).

    As fit() and predict() run: over a process team (minicnn/fast/team.py) where
    they would use one (numpy, more than one process), else in this process, the
    step fit calls (graph.training_step), with CUDA graphs on or off (``graphs``).
    """
    batches = device_batches(model, batch_size, min(steps, 8), seed)
    infer = device_batches(model, batch_size, -(-infer_images // batch_size), seed + 1)
    x = backend.xp().concatenate([b[0] for b in infer])[:infer_images]
    graph.set_enabled(graphs)
    try:
        with team_for(model.runner, batch_size, infer_images, batches[0][1]) as team:
            step = team.train_step if team is not None else graph.training_step(model.runner)
            figures = _time_steps(model, step, team, batches, x, batch_size, steps, repeats,
                                  warmup, infer_images)
    finally:
        graph.set_enabled(True)
    return figures, step_kind(step, graphs)


def step_kind(step, graphs):
    """How the training steps ran: "CUDA graph" (replays), or "eager" and why."""
    if isinstance(step, graph.GraphedStep):
        if step.replays:
            return "CUDA graph"
        return f"eager ({step.unavailable or 'not recorded'})"
    if backend.get_backend() == "numpy":
        return "eager (NumPy)"
    return "eager (graphs off)" if not graphs else "eager (no device step for this optimizer)"


def _time_steps(model, step, team, batches, x, batch_size, steps, repeats, warmup, infer_images):
    """Images/s of ``steps`` training steps and of inference over x: medians of ``repeats``."""
    def train(n_steps):
        for s in range(n_steps):
            step(*batches[s % len(batches)])

    train(warmup)
    train_s = median_seconds(lambda: train(steps), repeats)

    forward = model.runner.inference("outputs", team)  # as predict() runs it

    def predict(n):
        for i in range(0, n, batch_size):
            forward(x[i:i + batch_size])

    predict(min(infer_images, 2 * batch_size))
    infer_s = median_seconds(lambda: predict(infer_images), repeats)
    return {"train_img_s": steps * batch_size / train_s, "train_step_ms": 1e3 * train_s / steps,
            "infer_img_s": infer_images / infer_s}


def median_figures(runs):
    """The median of each figure over several runs' dicts of figures."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


# ---- PyTorch, optional ------------------------------------------------------
def import_torch(why="--compare torch"):
    try:
        import torch
    except ImportError:
        raise SystemExit(f"error: {why} needs PyTorch, which is optional and never a "
                         f"dependency of minicnn: {TORCH_HINT}")
    return torch


def torch_model(model, torch):
    """The same architecture as a minicnn Sequential, as a torch nn.Sequential (NCHW).

    A final softmax is dropped: torch's cross_entropy takes logits, as minicnn's
    fused loss does. Layers are told apart by their textbook classes (minicnn/nn),
    which the fast ones derive from, so a model of either kind will do.
    """
    nn = torch.nn
    model.build()
    mods = []
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Conv2D):
            if layer.padding == "same" and layer.strides != (1, 1):
                raise NotImplementedError(f"{layer.name}: 'same' padding with strides in torch")
            mods.append(nn.Conv2d(layer.input_shape[-1], layer.filters, layer.kernel_size,
                                  stride=layer.strides, bias=layer.use_bias,
                                  padding=0 if layer.padding == "valid" else "same"))
            mods += _torch_activation(layer.activation, nn, layer.name)
        elif isinstance(layer, Dense):
            mods.append(nn.Linear(layer.input_shape[0], layer.units, bias=layer.use_bias))
            mods += _torch_activation(layer.activation, nn, layer.name)
        elif isinstance(layer, BatchNormalization):
            norm = nn.BatchNorm2d if len(layer.input_shape) == 3 else nn.BatchNorm1d
            mods.append(norm(layer.input_shape[-1], eps=layer.epsilon,
                             momentum=1.0 - layer.momentum))   # torch: weight of the new value
        elif isinstance(layer, Dropout):
            mods.append(nn.Dropout(layer.rate))
        elif isinstance(layer, MaxPooling2D):
            if layer.padding != "valid":
                raise NotImplementedError(f"{layer.name}: 'same' max pooling in torch")
            mods.append(nn.MaxPool2d(layer.pool_size, stride=layer.strides))
        elif isinstance(layer, Flatten):
            mods.append(nn.Flatten())
        elif isinstance(layer, (Activation, ReLU, Softmax)):
            fn = layer.fn if isinstance(layer, Activation) else layer
            if isinstance(fn, Softmax) and i == last:
                continue
            mods += _torch_activation(fn, nn, layer.name)
        else:
            raise NotImplementedError(f"{layer.name}: no torch equivalent for {type(layer).__name__}")
    net = nn.Sequential(*mods)
    trainable = sum(int(p.size) for layer in model.layers if layer.trainable
                    for p in layer.params.values())
    if sum(p.numel() for p in net.parameters()) != trainable:
        raise RuntimeError(f"torch model has {sum(p.numel() for p in net.parameters())} "
                           f"parameters, the minicnn model {trainable} trainable ones.")
    return net


def _torch_activation(fn, nn, where):
    if fn is None or type(fn).__name__ == "Linear":
        return []
    if isinstance(fn, ReLU):
        return [nn.ReLU()]
    if isinstance(fn, Softmax):
        return [nn.Softmax(dim=1)]
    raise NotImplementedError(f"{where}: activation {type(fn).__name__} in torch")


def torch_optimizer(optimizer, params, torch):
    """The torch optimizer with the minicnn optimizer's hyper-parameters."""
    if isinstance(optimizer, Adam):
        return torch.optim.Adam(params, lr=optimizer.lr, betas=(optimizer.beta_1, optimizer.beta_2),
                                eps=optimizer.epsilon)
    if isinstance(optimizer, SGD):
        return torch.optim.SGD(params, lr=optimizer.lr, momentum=optimizer.momentum,
                               nesterov=optimizer.nesterov, weight_decay=optimizer.weight_decay)
    raise NotImplementedError(f"no torch equivalent for {optimizer!r}")


def time_torch_own_process(name, batch_size, args, thread_count):
    """time_torch for one model in a fresh Python process: PyTorch as its users run it.

    This process has made process-wide settings for minicnn by now (glibc's
    malloc keeps freed memory, minicnn/fast/memory.py), and they speed torch up too.
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-child", name,
           "--backend", args.backend, "--batch-size", str(batch_size), "--steps", str(args.steps),
           "--repeats", str(args.repeats), "--warmup", str(args.warmup),
           "--infer-images", str(args.infer_images), "--seed", str(args.seed),
           "--threads", str(thread_count), "--torch-device", args.torch_device]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: the torch timing process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def torch_child(args):
    """--torch-child NAME: print time_torch's figures for one model as one JSON line."""
    torch = import_torch()
    torch.set_num_threads(args.threads)
    device = torch_device(torch, args.torch_device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True          # as in the parent (main)
    minicnn.seed(args.seed)
    model, _ = build_model(args.torch_child)
    t = time_torch(model, args.batch_size, args.steps, args.repeats, args.warmup,
                   args.infer_images, args.seed, torch, device)
    print(json.dumps(t))
    return 0


def time_torch(model, batch_size, steps, repeats, warmup, infer_images, seed, torch, device):
    """Train and inference images/s of the same architecture in PyTorch, timed as time_minicnn."""
    torch.manual_seed(seed)
    net = torch_model(model, torch).to(device)
    opt = torch_optimizer(model.optimizer, net.parameters(), torch)
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    gen = torch.Generator().manual_seed(seed)
    h, w, c = IMAGE_SHAPE
    n_batches = min(steps, 8)
    xs = torch.rand((n_batches, batch_size, c, h, w), generator=gen).to(device)
    ys = torch.randint(0, CLASSES, (n_batches, batch_size), generator=gen).to(device)
    with torch.no_grad():
        out_shape = tuple(net(xs[0]).shape)
    if out_shape != (batch_size, CLASSES):
        raise RuntimeError(f"torch model outputs {out_shape}, expected {(batch_size, CLASSES)}")
    functional = torch.nn.functional

    def train(n_steps):
        net.train()
        for s in range(n_steps):
            opt.zero_grad(set_to_none=True)
            loss = functional.cross_entropy(net(xs[s % n_batches]), ys[s % n_batches])
            loss.backward()
            opt.step()

    def timed(fn, *args):
        times = []
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            fn(*args)
            sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    train(warmup)
    sync()
    train_s = timed(train, steps)

    x = torch.rand((infer_images, c, h, w), generator=gen).to(device)

    def predict(n):
        net.eval()
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                net(x[i:i + batch_size])

    predict(min(infer_images, 2 * batch_size))
    infer_s = timed(predict, infer_images)
    return {"train_img_s": steps * batch_size / train_s, "train_step_ms": 1e3 * train_s / steps,
            "infer_img_s": infer_images / infer_s}


def torch_device(torch, wanted):
    if wanted == "auto":
        wanted = "cuda" if backend.get_backend() == "cupy" and torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --torch-device cuda: this torch build sees no CUDA device.")
    return torch.device(wanted)


# ---- report -----------------------------------------------------------------
def print_report(results, gemm, counts, info, torch_info, textbook=False):
    where = info.get("gpu") or info["cpu"]
    print(f"\nminicnn on {info['backend']} ({where}), float32, "
          f"{'textbook classes, ' if textbook else ''}{counts['processes']} "
          f"process(es) x {counts['threads']} thread(s) ({counts['blas']})")
    print(f"float32 GEMM {gemm['n']}x{gemm['n']} ({gemm['module']}.matmul, median of "
          f"{gemm['runs']}): {gemm['gflops']:.1f} GFLOP/s\n")
    head = (f"{'model':<17} {'batch':>5} {'MFLOP/img':>9} {'train img/s':>12} {'GFLOP/s':>8} "
            f"{'%GEMM':>6} {'infer img/s':>12} {'GFLOP/s':>8} {'%GEMM':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        m = r["minicnn"]
        print(f"{r['model']:<17} {r['batch_size']:>5} {r['forward_flops'] / 1e6:>9.2f} "
              f"{m['train_img_s']:>12,.0f} {m['train_gflops']:>8.2f} "
              f"{100 * m['train_gflops'] / gemm['gflops']:>5.1f}% "
              f"{m['infer_img_s']:>12,.0f} {m['infer_gflops']:>8.2f} "
              f"{100 * m['infer_gflops'] / gemm['gflops']:>5.1f}%")
    print("MFLOP/img: forward, 2 x multiply-accumulates of the Conv2D/Dense layers; "
          "training counts 3 x forward.")
    for r in results:
        line = f"{r['model']}: training steps ran as {r['training_step']}"
        if "minicnn_graphs_off" in r:
            off = r["minicnn_graphs_off"]
            line += (f"; without graphs {off['train_img_s']:,.0f} train img/s "
                     f"({off['train_step_ms']:.2f} ms a step), the graph {r['graph_speedup_train']:.2f}x"
                     + (f"; ratio to torch without graphs {r['ratio_train_graphs_off_own']:.2f}x own / "
                        f"{r['ratio_train_graphs_off']:.2f}x here" if torch_info is not None else ""))
        print(line)
    if torch_info is None:
        return
    print(f"\nPyTorch {torch_info['version']} on {torch_info['device']} "
          f"({torch_info['threads']} threads), same architectures and batch sizes, same run.")
    print("own: torch in a fresh process, as its users run it; here: in this process after "
          "minicnn,\nsharing the malloc setting minicnn makes (minicnn/fast/memory.py), which speeds "
          "torch up too.")
    head = (f"{'model':<17} {'torch train own/here':>21} {'torch infer own/here':>21} "
            f"{'train ratio own/here':>21} {'infer ratio own/here':>21}")
    print(head)
    print("-" * len(head))
    for r in results:
        t, o = r["torch"], r["torch_own_process"]
        print(f"{r['model']:<17} {o['train_img_s']:>10,.0f}/{t['train_img_s']:<10,.0f} "
              f"{o['infer_img_s']:>10,.0f}/{t['infer_img_s']:<10,.0f} "
              f"{r['ratio_train_own']:>9.2f}x/{r['ratio_train']:.2f}x{'':<5} "
              f"{r['ratio_infer_own']:>9.2f}x/{r['ratio_infer']:.2f}x")
    print("ratio: minicnn images/s over torch images/s (above 1: minicnn is faster); with "
          "--rounds, the median of the rounds' ratios.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--model", default="go-crazy",
                   help=f"one of {', '.join(assignment4.MODELS)}, several joined by commas, "
                        "or 'all'")
    p.add_argument("--batch-size", type=int, default=None,
                   help="override every model's own batch size")
    p.add_argument("--steps", type=int, default=20, help="training steps per timed run")
    p.add_argument("--repeats", type=int, default=5, help="timed runs; the median is reported")
    p.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    p.add_argument("--infer-images", type=int, default=10000,
                   help="images per timed inference run")
    p.add_argument("--processes", type=int, default=None,
                   help="minicnn processes a batch is split over; default: one per core")
    p.add_argument("--threads", type=int, default=None,
                   help="with --processes 1: minicnn threads; also torch's thread count "
                        "(default: the cores minicnn uses)")
    p.add_argument("--compare", choices=["torch"], default=None,
                   help="also time the same architectures in PyTorch (optional)")
    p.add_argument("--torch-device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: cuda on --backend cupy when torch sees a GPU, else cpu")
    p.add_argument("--textbook", action="store_true",
                   help="time the textbook classes (minicnn/nn: textbook_copy, textbook_twin), "
                        "in one process on one thread")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure minicnn and torch alternately this many times; medians "
                        "(evens out a machine whose speed drifts)")
    p.add_argument("--graph", choices=["on", "off", "both"], default="on",
                   help="CuPy: the training step as a CUDA graph (minicnn/fast/graph.py, on "
                        "by default), without (off), or both in each round (both)")
    p.add_argument("--gemm-size", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, metavar="PATH", help="write every figure to PATH")
    p.add_argument("--torch-child", default=None, help=argparse.SUPPRESS)   # see torch_child
    args = p.parse_args(argv)
    if args.torch_child:
        use_backend(args.backend, p)
        return torch_child(args)

    names = list(assignment4.MODELS) if args.model == "all" else args.model.split(",")
    unknown = [n for n in names if n not in assignment4.MODELS]
    if unknown:
        p.error(f"unknown model {unknown[0]!r}; choose one of: {', '.join(assignment4.MODELS)} or all")
    check_counts(p, args, "batch_size", "steps", "repeats", "infer_images", "processes",
                 "threads", "rounds", "gemm_size")
    check_counts(p, args, "warmup", least=0)

    use_backend(args.backend, p)
    torch = import_torch() if args.compare == "torch" else None   # before the thread limits
    try:
        counts = configure_parallel(args.processes, args.threads, args.textbook)
    except RuntimeError as err:
        p.exit(2, f"error: {err}\n")
    info = device_info()
    torch_info = None
    if torch is not None:
        dev = torch_device(torch, args.torch_device)
        torch.set_num_threads(args.threads or counts["cores"])
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        torch_info = {"version": torch.__version__, "device": str(dev),
                      "threads": torch.get_num_threads(),
                      "cudnn_benchmark": dev.type == "cuda"}

    gemm = gemm_gflops(args.gemm_size)
    results = []
    for name in names:
        minicnn.seed(args.seed)
        model, batch_size = build_model(name, args.textbook)
        batch_size = batch_size if args.batch_size is None else args.batch_size
        per_layer, macs = macs_per_image(model)
        fwd_flops, train_flops = flops_per_image(macs)
        rounds = []          # minicnn, then torch here and in its own process, --rounds times
        graphs_off = []      # with --graph both: minicnn without graphs, each round
        for _ in range(args.rounds):
            m, kind = time_minicnn(model, batch_size, args.steps, args.repeats, args.warmup,
                                   args.infer_images, args.seed, graphs=args.graph != "off")
            if args.graph == "both":
                graphs_off.append(time_minicnn(model, batch_size, args.steps, args.repeats,
                                               args.warmup, args.infer_images, args.seed,
                                               graphs=False)[0])
            if torch is not None:
                t = time_torch(model, batch_size, args.steps, args.repeats, args.warmup,
                               args.infer_images, args.seed, torch, dev)
                own = time_torch_own_process(name, batch_size, args, torch_info["threads"])
                rounds.append((m, t, own))
            else:
                rounds.append((m,))
        m = median_figures([r[0] for r in rounds])
        m["train_gflops"] = m["train_img_s"] * train_flops / 1e9
        m["infer_gflops"] = m["infer_img_s"] * fwd_flops / 1e9
        row = {"model": name, "batch_size": batch_size, "params": model.count_params(),
               "optimizer": repr(model.optimizer), "macs_per_image": macs,
               "macs_per_layer": dict(per_layer), "forward_flops": fwd_flops,
               "train_flops": train_flops, "minicnn": m, "training_step": kind}
        if graphs_off:
            off = median_figures(graphs_off)
            off["train_gflops"] = off["train_img_s"] * train_flops / 1e9
            off["infer_gflops"] = off["infer_img_s"] * fwd_flops / 1e9
            row.update(minicnn_graphs_off=off, rounds_graphs_off=graphs_off,
                       graph_speedup_train=statistics.median(
                           r[0]["train_img_s"] / e["train_img_s"] for r, e in zip(rounds, graphs_off)))
        if torch is not None:
            t, own = median_figures([r[1] for r in rounds]), median_figures([r[2] for r in rounds])
            for fig in (t, own):
                fig["train_gflops"] = fig["train_img_s"] * train_flops / 1e9
                fig["infer_gflops"] = fig["infer_img_s"] * fwd_flops / 1e9
            # each round's ratio is taken between figures measured minutes apart at most;
            # the median of those is steadier than a ratio of medians on a drifting machine
            row.update(torch=t, torch_own_process=own, rounds=[list(r) for r in rounds],
                       **{f"ratio_{kind}{suffix}": statistics.median(
                           r[0][f"{kind}_img_s"] / r[i][f"{kind}_img_s"] for r in rounds)
                          for kind in ("train", "infer") for i, suffix in ((1, ""), (2, "_own"))})
            if graphs_off:
                row.update({f"ratio_train_graphs_off{suffix}": statistics.median(
                    e["train_img_s"] / r[i]["train_img_s"] for r, e in zip(rounds, graphs_off))
                    for i, suffix in ((1, ""), (2, "_own"))})
        results.append(row)
        print(f"{name}: train {m['train_img_s']:,.0f} img/s ({kind}), inference "
              f"{m['infer_img_s']:,.0f} img/s"
              + (f"; graphs off: train {row['minicnn_graphs_off']['train_img_s']:,.0f} img/s"
                 if graphs_off else "")
              + (f"; torch {row['torch']['train_img_s']:,.0f} / {row['torch']['infer_img_s']:,.0f}"
                 f" (own process {own['train_img_s']:,.0f} / {own['infer_img_s']:,.0f})"
                 if torch is not None else ""), flush=True)

    print_report(results, gemm, counts, info, torch_info, args.textbook)
    if args.json:
        write_json(args.json, "train", args, info=info, threads=counts, gemm=gemm,
                   torch=torch_info, results=results)
    return 0


def write_json(path, benchmark, args, **figures):
    """Write the figures, with the configuration they were measured under, to ``path``."""
    out = {"benchmark": benchmark,
           "config": {k: v for k, v in vars(args).items() if k != "json"}, **figures}
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())

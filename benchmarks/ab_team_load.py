"""A process team and one process on an idle machine, beside a CPU hog, and as two jobs at once.

Each fit runs in a fresh Python process (a "job"): it builds the small model of
tests/test_parallel.py, trains one short warm-up epoch, says it is ready, and on
"go" times ``fit`` on --images random 12x12 images. Arms: "1" (set_processes(1)),
"default" (set_processes never called: one process per core, at most 8, as a
user gets it) and, with --arms, "fixed" (set_processes(that same count)).
Conditions: "idle" (nothing added: run it on a quiet machine); "hog", beside a
busy-loop Python process pinned nowhere; "two", two jobs of the same arm
started together (both fits are counted). The arms take turns within each
condition, in reversed order every other round; the table gives each arm's
median, min and max seconds per fit, and its median over the "1" arm's in the
same condition. Nothing here needs a newer minicnn than
set_processes/get_processes, so the same command times older code too.

    python benchmarks/ab_team_load.py --images 6000 --epochs 3 --rounds 5 --arms 1,default,fixed
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ARMS = ("1", "default", "fixed")
CONDITIONS = ("idle", "hog", "two")
CONDITION_NAMES = {"idle": "idle", "hog": "beside a CPU hog", "two": "two jobs at once"}


# ---- one job: runs in its own process ---------------------------------------------------------
def job(arm, images, epochs, batch_size):
    """Build, warm up, wait for "go" on stdin, time fit; print {"seconds", "processes"} as JSON."""
    sys.path.insert(0, ROOT)
    import numpy as np

    import minicnn
    from minicnn import layers
    from minicnn.models import Sequential
    try:        # this script copied into a checkout from before the reorganisation
        from minicnn import parallel as team
    except ImportError:
        from minicnn.fast import team

    default = team.get_processes()
    if arm == "1":
        team.set_processes(1)
    elif arm == "fixed":
        team.set_processes(default)
    minicnn.seed(3)
    model = Sequential([
        layers.Conv2D(6, 3, activation="relu", input_shape=(12, 12, 1)),
        layers.BatchNormalization(), layers.Dropout(0.25),
        layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.BatchNormalization(), layers.Flatten(), layers.Dense(10),
        layers.Activation("softmax")])
    model.compile("categorical_crossentropy", minicnn.optimizers.SGD(lr=0.05))
    rng = np.random.default_rng(5)
    x = rng.random((images, 12, 12, 1)).astype("float32")
    y = rng.integers(0, 10, images)
    warm = min(images, 512)
    model.fit(x[:warm], y[:warm], batch_size=batch_size, epochs=1, verbose=0)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "processes": team.get_processes()}), flush=True)
    return 0


# ---- the driver -------------------------------------------------------------------------------
def run_jobs(arm, count, args):
    """Start ``count`` jobs of ``arm``, let them go together once all are ready; their results."""
    command = [sys.executable, os.path.abspath(__file__), "--job", arm, "--images", str(args.images),
               "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    jobs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=ROOT) for _ in range(count)]
    try:
        for proc in jobs:
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"ab_team_load: a job for arm {arm!r} said {line!r}, not 'ready'.")
        for proc in jobs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [json.loads(proc.stdout.readline()) for proc in jobs]
        for proc in jobs:
            if proc.wait(timeout=600) != 0:
                raise RuntimeError(f"ab_team_load: a job for arm {arm!r} failed.")
        return results
    finally:
        for proc in jobs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdin.close()
            proc.stdout.close()


def measure(condition, arm, args):
    """Seconds of each fit of one turn of ``arm`` under ``condition``; and the processes it had."""
    hog = None
    if condition == "hog":
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        results = run_jobs(arm, 2 if condition == "two" else 1, args)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return [r["seconds"] for r in results], results[0]["processes"]


def table(seconds, processes, args):
    lines = [f"{'condition':<18} {'arm':<24} {'median':>7} {'min':>7} {'max':>7} {'fits':>5} "
             f"{'/ arm 1':>8}"]
    for condition in args.conditions:
        base = seconds.get((condition, "1"))
        for arm in args.arms:
            times = seconds[condition, arm]
            label = {"1": "1 process", "default": f"default ({processes[arm]} processes)",
                     "fixed": f"set_processes({processes[arm]})"}[arm]
            ratio = (f"{statistics.median(times) / statistics.median(base):8.2f}" if base
                     else f"{'':>8}")
            lines.append(f"{CONDITION_NAMES[condition]:<18} {label:<24} "
                         f"{statistics.median(times):7.3f} {min(times):7.3f} {max(times):7.3f} "
                         f"{len(times):5d} {ratio}")
    return "\n".join(lines)


def names(text, allowed, parser, flag):
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    bad = [name for name in chosen if name not in allowed]
    if bad or not chosen or len(set(chosen)) != len(chosen):
        parser.error(f"{flag}: a comma-separated list of distinct names from {', '.join(allowed)}; "
                     f"got {text!r}.")
    return chosen


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=6000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--arms", default="1,default", help="from 1, default, fixed")
    p.add_argument("--conditions", default="idle,hog,two", help="from idle, hog, two")
    p.add_argument("--job", choices=ARMS, help=argparse.SUPPRESS)   # internal: one timed fit
    args = p.parse_args(argv)
    for name in ("images", "epochs", "batch_size", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1.")
    if args.job:
        return job(args.job, args.images, args.epochs, args.batch_size)
    args.arms = names(args.arms, ARMS, p, "--arms")
    args.conditions = names(args.conditions, CONDITIONS, p, "--conditions")
    seconds = {(c, a): [] for c in args.conditions for a in args.arms}
    processes = {}
    for r in range(args.rounds):
        for condition in args.conditions:
            for arm in args.arms if r % 2 == 0 else args.arms[::-1]:
                times, processes[arm] = measure(condition, arm, args)
                seconds[condition, arm] += times
    print(f"{args.images} images, {args.epochs} epoch(s), batch {args.batch_size}, "
          f"{args.rounds} round(s), {len(os.sched_getaffinity(0))} cores; seconds per fit")
    print(table(seconds, processes, args))
    print("command: python benchmarks/ab_team_load.py " + " ".join(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

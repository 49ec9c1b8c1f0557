"""Processes that wait by asking first, or that sleep at once: whole team steps, alternating.

The processes of a team (minicnn/fast/team.py) wait for each other three
ways: a worker for its next command, rank 0 for the workers' replies, and
everyone at a batch norm's barrier. Each first asks without sleeping for up to
team.SPIN seconds (team._ask). This times Team.train_step on one model, with
teams whose waits ask first and teams whose waits sleep at once (``_ask``
replaced by one that never asks), in turn, --rounds times; the ratio of each
round is printed, since this machine's speed drifts between minutes. Each
team forks its own workers, so they inherit the choice.

    python benchmarks/ab_team_wait.py --model kernel-optimised --batch-size 64
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_train import assignment4, build_model, check_counts, device_batches, median_seconds  # noqa: E402

from minicnn.fast import team  # noqa: E402


def never_ask(ready, spin):
    """team._ask for the 'sleep at once' teams."""
    return False


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="kernel-optimised", choices=list(assignment4.MODELS))
    p.add_argument("--batch-size", type=int, default=64, help="the whole batch, split over the team")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=16, help="steps per timing")
    p.add_argument("--repeats", type=int, default=5, help="timings per figure; the median is used")
    args = p.parse_args(argv)
    check_counts(p, args, "batch_size", "rounds", "steps", "repeats")
    if team.get_processes() < 2:
        p.error("this machine gives a team one process; nothing to compare.")
    model, _ = build_model(args.model)
    batches = device_batches(model, args.batch_size, 8, 0)
    settings = {"sleep at once": never_ask, "ask first": team._ask}
    ms = {name: [] for name in settings}
    try:
        for r in range(args.rounds):
            order = list(settings.items())
            for name, ask in order if r % 2 == 0 else order[::-1]:
                team._ask = ask
                with team.team_for(model.runner, args.batch_size, team.MIN_SAMPLES,
                                   batches[0][1]) as workers:
                    if workers is None:
                        p.error(f"--batch-size {args.batch_size} is too small to split.")

                    def steps():
                        for s in range(args.steps):
                            workers.train_step(*batches[s % len(batches)])
                    steps()                                             # warm-up
                    ms[name].append(1e3 * median_seconds(steps, args.repeats) / args.steps)
    finally:
        team._ask = settings["ask first"]
    a, b = settings
    ratios = [new / old for old, new in zip(ms[a], ms[b])]
    print(f"{args.model}, batch {args.batch_size} over {team.get_processes()} processes, ms per "
          f"training step: {a} {statistics.median(ms[a]):.2f}, {b} {statistics.median(ms[b]):.2f}; "
          "ratio per round " + " ".join(f"{x:.3f}" for x in ratios)
          + f" (median {statistics.median(ratios):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a fast layer asks when its batch may be split over processes (team.py).

A process team gives each process some of the rows of every batch. Most
layers never notice: their rows are computed as if alone. A layer that looks
across the batch asks these three questions, and gets the whole batch's
answer:

    batch_rows(n)   (N, rows): the size of the whole batch, and which of its
                    rows this process holds; (n, slice(0, n)) outside a team;
    allreduce(vec)  the sum of ``vec`` over every process of the step (batch
                    norm's per-channel sums); ``vec`` itself outside a team;
    leads()         True in the one process that keeps the model's state
                    (batch norm's moving statistics); always True outside a team.

The team sets which rows this process holds around each step (``holding``);
that is this module's only state.
"""
import contextlib

_part = None   # inside a team's step: this process's Part


class Part:
    """This process's place in one step of a team: its rank, the whole batch's
    size, its rows, and how many allreduce calls it has made in this step."""

    def __init__(self, team, rank, total, rows):
        self.team, self.rank, self.total, self.rows = team, rank, total, rows
        self.reduces = 0   # the same count on every rank: they call allreduce in the same order


@contextlib.contextmanager
def holding(part):
    """Inside the block, this process holds ``part`` of the batch."""
    global _part
    _part = part
    try:
        yield part
    finally:
        _part = None


def batch_rows(n):
    """(N, rows): the size of the whole batch, and which of its rows this process holds."""
    if _part is None:
        return n, slice(0, n)
    return _part.total, _part.rows


def allreduce(vec):
    """The sum of ``vec`` over every process of the step, added in rank order.

    Every process must call it at the same point, with the same shape.
    """
    if _part is None:
        return vec
    return _part.team.allreduce(_part, vec)


def leads():
    """True in the process that keeps the model's state (rank 0, or no team)."""
    return _part is None or _part.rank == 0

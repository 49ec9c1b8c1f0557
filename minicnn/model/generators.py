"""Data that arrives batch by batch: Python generators, iterators, and Keras
Sequence-like objects (with ``__len__`` and ``__getitem__``), as fit_generator,
evaluate_generator and predict_generator (and fit/evaluate/predict given one) take them.

Each batch is (x, y) or (x, y, sample_weight); predict also takes x alone.
Batches are checked one by one as they come (sequential.py), and run in this
process: their sizes are not known in advance, so the process team
(minicnn/fast/team.py), which sizes its shared buffers up front, is not used.
"""
from .. import backend, utils


def is_sequence(data):
    """A Keras Sequence: a minicnn.utils.Sequence (ImageDataGenerator.flow's iterator is
    one), or any object with indexable batches and len() of them and no __next__."""
    if isinstance(data, getattr(utils, "Sequence", ())):
        return True
    return hasattr(data, "__getitem__") and hasattr(data, "__len__") and not hasattr(data, "__next__")


def batch_source(data, steps, where, steps_name="steps", shuffle=False):
    """(steps, epoch_items): how many batches a pass takes, and a function that returns
    the next pass's raw batches, exactly ``steps`` of them (an error if the data runs out).

    A Sequence gives len(data) batches per pass unless ``steps`` says otherwise,
    in a new random order each pass with ``shuffle``, and its on_epoch_end() is
    called after each pass, as Keras does; a generator or iterator needs ``steps``
    and is drawn from where the last pass stopped.
    """
    if is_sequence(data):
        length = len(data)
        if length < 1:
            raise ValueError(f"{where}: the Sequence holds no batches (len() is 0).")
        steps = length if steps is None else steps

        def epoch_items():
            order = backend.host_rng().permutation(length) if shuffle else range(length)
            for i in range(steps):
                yield data[int(order[i % length])]
            if callable(getattr(data, "on_epoch_end", None)):
                data.on_epoch_end()
        return steps, epoch_items
    if steps is None:
        raise ValueError(f"{where}: {steps_name} is needed with a generator (how many batches "
                         f"make one pass), e.g. {steps_name}=len(x_train) // batch_size; only "
                         "a Sequence-like object (with __len__) can do without.")
    iterator = iter(data)

    def epoch_items():
        for i in range(steps):
            try:
                item = next(iterator)
            except StopIteration:
                raise ValueError(f"{where}: the generator stopped after {i} batches, but a pass "
                                 f"needs {steps_name}={steps}; write it to loop forever "
                                 "(while True: ... yield x, y), as Keras expects.") from None
            yield item
    return steps, epoch_items


def unpack(item, where, inputs_only=False):
    """(x, y, sample_weight) of one batch (y and sample_weight None where absent)."""
    if inputs_only and hasattr(item, "shape"):
        return item, None, None
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        return item[0], item[1], (item[2] if len(item) == 3 else None)
    form = "x, (x, y) or (x, y, sample_weight)" if inputs_only else "(x, y) or (x, y, sample_weight)"
    got = type(item).__name__
    if isinstance(item, (tuple, list)):
        got += f" of {len(item)}"
    raise ValueError(f"{where}: each batch from the generator must be {form}; got {got}.")

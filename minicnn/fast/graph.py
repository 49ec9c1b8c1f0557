"""The training step as one CUDA graph (CuPy): recorded once, replayed for every full batch.

On a GPU a training step of the assignment's models is a few hundred small
kernels, each launched from Python: the GPU spends most of a step waiting
for the CPU (docs/gpu.md). CUDA can record a stream's work once, as a graph
(stream capture, cupy.cuda.Stream.begin_capture / end_capture), and replay
all of it with one call (cupy.cuda.Graph.launch), no Python in between. A
replay does exactly what the recording did, with the same addresses, so the
step must be one that can be repeated that way:

* Fixed addresses. Each batch is copied into buffers of the step, and every
  array the step makes while it is recorded comes from a memory pool of the
  step (a cupy.cuda.MemoryPool under cupy.cuda.using_allocator), which
  nothing else allocates from: no address the graph uses is handed to other
  code while the graph lives. The layers' scratch buffers (memory.workspace)
  are made again in that pool before a recording. The arrays that outlive a
  step (weights, batch-norm statistics, optimizer state, the dropout stream,
  the step counters) are changed in place only; before every replay the step
  checks that the model still holds the same ones (a new compile, an undone
  epoch or set_state replace some), else it records again.
* No host synchronisation and no Python decision inside the step. Shapes are
  fixed, so the branches Python takes on them are the recording's; nothing is
  read back to the host (the loss and metric sums stay on the device,
  minicnn/model/loops.py). The products go to cuBLAS through cublas.py, since
  CuPy's matmul refuses to run inside a capture.
* What changes from step to step is read from device memory: the learning
  rate and the step count (optimizers.StepCounters; the host writes a new
  learning rate there before a step, outside the graph, so a schedule needs
  no new recording), and dropout's random stream, a counter-based generator
  whose draw count the step advances on the device (backend.dropout_stream),
  so each replay draws new masks, the masks the eager step would draw.

How a step object runs (GraphedStep for training, GraphedScores for the loss
and metrics of evaluation and validation):

    call 1 with a batch shape   eager (the optimizer's state is made, kernels compiled)
    call 2 with the same shape  run for real on the step's stream and pool (a warm-up:
                                this batch's step), then recorded (not run again)
    every later call            the batch copied into the buffers, the graph launched;
                                a batch of another shape (the last, short one) runs eagerly

Where recording is unavailable (NumPy, the tests' strict stand-in, a CuPy
without stream capture, an optimizer other than the fast SGD and Adam, a
step CUDA refuses to record, such as one with a Dense layer, whose product
CuPy makes) every step runs eagerly, the same code, with a one-line note.
``set_enabled(False)`` turns graphs off: fit then calls Runner.train_step.
A step object and its memory live as long as the model (``made_for``).
"""
import sys

from .. import backend
from . import cublas, gemm
from .optimizers import StepCounters, slot_arrays

_enabled = True
_noted = set()          # reasons already printed


def set_enabled(enabled=True):
    """Turn CUDA graphs on (the default) or off for the steps made from now on."""
    global _enabled
    _enabled = bool(enabled)


def is_enabled():
    return _enabled


def capture_unavailable():
    """None where the active backend can record CUDA graphs, else why not (a phrase)."""
    xp, name = backend.xp(), backend.get_backend()
    if name != "cupy":
        return f"the {name} backend has no CUDA graphs"
    if not hasattr(xp.cuda.Stream, "begin_capture") or not hasattr(xp.cuda, "Graph"):
        return f"CuPy {xp.__version__} has no stream capture (CuPy 10 and later have)"
    if getattr(xp.cuda.runtime, "is_hip", False):
        return "CuPy on ROCm records no CUDA graphs"
    try:
        cublas.get()
    except RuntimeError as err:
        return str(err)
    return None


def note(what, reason):
    """Say once per process and reason, on one line, that ``what`` runs eagerly."""
    if reason not in _noted:
        _noted.add(reason)
        print(f"minicnn: {what} runs eagerly, not as a CUDA graph: {reason}.", file=sys.stderr,
              flush=True)


def made_for(runner):
    """The step objects made for a runner so far: {"training": GraphedStep, "scoring":
    GraphedScores}, kept on the runner (they live and go with the model)."""
    return runner.__dict__.setdefault("_graphed", {})


def _kept(runner, kind, make):
    """The runner's step object of ``kind``, made (again) for the active array module."""
    made = made_for(runner)
    if kind not in made or made[kind].xp is not backend.xp():
        made[kind] = make(runner)
    return made[kind]


def training_step(runner):
    """The function fit calls for each training step, (x, targets, weights) -> (summed
    loss, metric sums): the runner's GraphedStep on a GPU backend, else
    ``runner.train_step`` (NumPy, graphs off, or an optimizer without a device step)."""
    if backend.get_backend() == "numpy" or not _enabled:
        return runner.train_step
    if not callable(getattr(runner.optimizer, "step_on_device", None)):
        note("the training step", f"{type(runner.optimizer).__name__} takes its learning rate "
                                  "from the host (minicnn.optimizers' SGD and Adam do not)")
        return runner.train_step
    return _kept(runner, "training", GraphedStep)


def scoring(runner, team=None):
    """The function evaluation calls for each batch, (x, targets, weights) -> (summed
    loss, metric sums) in inference mode with the weights as they are now: the runner's
    GraphedScores (refolded) on a GPU backend, else the runner's inference and scores."""
    if team is not None or backend.get_backend() == "numpy" or not _enabled:
        logits_of = runner.inference("logits", team)
        return lambda x, targets, weights: runner.scores(logits_of(x), targets, weights)
    scores = _kept(runner, "scoring", GraphedScores)
    scores.refold()
    return scores


class CudaRecorder:
    """Records a step with CuPy's stream capture, on a stream and a memory pool of its own."""

    def __init__(self, cupy):
        self.cupy = cupy
        self.pool = cupy.cuda.MemoryPool()             # never freed while the graphs live
        self.stream = cupy.cuda.Stream(non_blocking=True)   # capture needs a non-default one
        self.blas = cublas.get()

    def record(self, body):
        """Run ``body`` for real, then record it. Returns (the run's outputs, the graph,
        the outputs the graph writes, None), or (outputs, None, None, why) when the
        recording failed. An error of the run itself is raised, as an eager step's is."""
        cupy, stream = self.cupy, self.stream
        current = cupy.cuda.get_current_stream()
        stream.wait_event(current.record())            # the batch copied in, earlier steps done
        try:
            with cupy.cuda.using_allocator(self.pool.malloc), stream, gemm.through(self.blas):
                outputs = body()                       # this batch's step: compiles, fills the pool
                try:
                    graph, recorded = self._capture(body)
                except Exception as err:               # refused by CUDA or CuPy; the step ran
                    return outputs, None, None, f"{type(err).__name__}: {err}"
        finally:
            current.wait_event(stream.record())        # later work sees the step's results
        return outputs, graph, recorded, None

    def _capture(self, body):
        stream = self.stream
        stream.begin_capture()                          # relaxed mode: the pool may grow
        try:
            recorded = body()                           # recorded, not run
        except BaseException:
            try:
                stream.end_capture()                    # leave capture mode; the graph is void
            except Exception:
                pass
            raise
        return stream.end_capture(), recorded


class _Graphed:
    """What GraphedStep and GraphedScores share: a step, eager or recorded and replayed.

    A subclass gives ``_body(x, targets, weights)`` (the step as array code,
    returning device arrays), ``_persistent()`` (the arrays and objects that
    outlive a step, and settings, which a replay assumes unchanged), and
    ``_layers_run()``; ``_before``/``_after`` run on the host around every call.
    ``recorder``: CudaRecorder by default; the tests pass one that runs on a CPU.
    """
    what = "a step"

    def __init__(self, runner, recorder=None):
        self.runner = runner
        self.xp = backend.xp()
        self.unavailable = None if recorder is not None else capture_unavailable()
        if self.unavailable is not None:
            note(self.what, self.unavailable)
        elif recorder is None:
            recorder = CudaRecorder(self.xp)
        self.recorder = recorder
        self.captures = self.replays = self.eager_calls = 0
        self._graph = None          # the recording, launched by a replay
        self._signature = None      # the shapes and dtypes of the batch it was made for
        self._inputs = None         # the buffers it reads the batch from
        self._outputs = None        # the arrays it writes its results to
        self._held = None           # _persistent() when it was made
        self._last_eager = None     # the signature of the last eager call

    @property
    def graph_used(self):
        """True once a batch has run as a replay of the recorded graph."""
        return self.replays > 0

    def __call__(self, x, targets, weights=None):
        batch = (x, targets, weights)
        signature = tuple(None if a is None else (tuple(a.shape), a.dtype) for a in batch)
        self._before(batch)
        if self._graph is not None and signature == self._signature:
            if _same(self._persistent(), self._held):
                outputs = self._replay(batch)
                self._after()
                return outputs
            self._graph = None              # the model changed: an eager call, then record again
            self._last_eager = None
        if self._graph is None and self.recorder is not None and signature == self._last_eager:
            outputs = self._record(batch, signature)    # (one graph: other shapes stay eager)
        else:
            self.eager_calls += 1
            self._last_eager = signature
            outputs = self._body(*batch)
        self._after()
        return outputs

    def _replay(self, batch):
        for buffer, a in zip(self._inputs, batch):
            if buffer is not None:
                buffer[...] = a
        self._graph.launch()                            # on the current stream, after the copies
        self.replays += 1
        return self._outputs

    def _record(self, batch, signature):
        inputs = tuple(None if a is None else self.xp.empty_like(a) for a in batch)
        for buffer, a in zip(inputs, batch):
            if buffer is not None:
                buffer[...] = a
        before = self._persistent()
        for layer in self._layers_run():                # scratch buffers: made in the step's pool
            layer.__dict__.pop("_workspace", None)
        outputs, graph, recorded, failure = self.recorder.record(lambda: self._body(*inputs))
        if failure is None and not _same(self._persistent(), before):
            failure = "the step replaces arrays it keeps between steps instead of updating them"
        if failure is not None:
            self._give_up(failure)
            return outputs
        self._graph, self._signature = graph, signature
        self._inputs, self._outputs, self._held = inputs, recorded, before
        self.captures += 1
        return outputs

    def _give_up(self, reason):
        self.recorder, self.unavailable, self._graph = None, reason, None
        note(self.what, reason)

    def _before(self, batch):
        pass

    def _after(self):
        pass


class GraphedStep(_Graphed):
    """fit's training step, one optimiser step per call, recorded as a CUDA graph
    where it can be (module docstring): same arguments and results as
    Runner.train_step; the results are the step's own arrays, valid until the
    next call. The optimizer (minicnn.optimizers' SGD or Adam) reads its
    learning rate and step count from ``counters``; the host's
    ``optimizer.iterations`` is counted here, once per call."""
    what = "the training step"

    def __init__(self, runner, recorder=None):
        self.counters = StepCounters()
        self._written = (None, None)    # (lr, iterations) last written into the counters
        super().__init__(runner, recorder)

    def _before(self, batch):
        self.runner.check_weights(batch[2])
        optimizer = self.runner.optimizer
        lr, iterations = float(optimizer.lr), optimizer.iterations
        written_lr, written_iterations = self._written
        if lr != written_lr or iterations != written_iterations:   # outside any graph
            self.counters.write(lr if lr != written_lr else None,
                                iterations if iterations != written_iterations else None)
            self._written = (lr, iterations)

    def _after(self):
        optimizer = self.runner.optimizer
        optimizer.iterations += 1                       # the device count moved inside the step
        self._written = (self._written[0], optimizer.iterations)

    def _body(self, x, targets, weights):
        runner = self.runner
        loss, sums = runner.gradients(x, targets, weights)
        params = [layer.params[key] for layer, key in runner.slots]
        grads = [layer.grads[key] for layer, key in runner.slots]
        runner.optimizer.step_on_device(params, grads, self.counters)
        return loss, sums

    def _layers_run(self):
        return self.runner.layers

    def _persistent(self):
        runner, optimizer = self.runner, self.runner.optimizer
        config = optimizer.get_config()
        config.pop("lr", None)                          # read from the counters at every step
        config["slots"] = [(id(layer), key) for layer, key in runner.slots]
        held = [a for layer in runner.layers for group in (layer.params, layer.state)
                for a in group.values()]
        held += slot_arrays(optimizer) + [backend.dropout_stream(), self.counters.lr,
                                          self.counters.iterations]
        held += [runner.loss, optimizer, *runner.logit_layers, *runner.metrics]
        return held, config


class GraphedScores(_Graphed):
    """Evaluation's (summed loss, metric sums) of a batch in inference mode, recorded as
    a CUDA graph where it can be: the layers inference runs (batch norms folded into
    the next convolution, fast/inference.py), kept between evaluations and refolded in
    place (``refold``) with the weights of the moment, so one recording serves every
    epoch's validation."""
    what = "evaluation"

    def __init__(self, runner, recorder=None):
        super().__init__(runner, recorder)
        self._layers = None

    def refold(self):
        """Fold the batch norms as they are now: the kept folded layers get the new
        weights in place (a new list, and a new recording, if the layers changed)."""
        fresh = self.runner.inference_layers("logits")
        kept = self._layers
        own = {id(layer) for layer in self.runner.layers}
        if kept is None or len(kept) != len(fresh) or not all(
                _same_place(a, b, own) for a, b in zip(kept, fresh)):
            self._layers = fresh
            return
        for old, new in zip(kept, fresh):
            if old is not new:                          # a folded twin: its new weights
                for key, value in new.params.items():
                    old.params[key][...] = value

    def _body(self, x, targets, weights):
        logits = self.runner.forward(x, False, self._layers)
        return self.runner.scores(logits, targets, weights)

    def _layers_run(self):
        return self._layers

    def _persistent(self):
        runner = self.runner
        held = [a for layer in self._layers for group in (layer.params, layer.state)
                for a in group.values()]
        held += [runner.loss, *self._layers, *runner.metrics]
        return held, None


def _same_place(kept, fresh, own):
    """Can ``kept`` take ``fresh``'s weights in place? The same layer, or two folded twins
    (not the model's own layers) of one class with parameters of the same shapes."""
    if kept is fresh:
        return True
    if id(kept) in own or id(fresh) in own or type(kept) is not type(fresh):
        return False
    return kept.params.keys() == fresh.params.keys() and all(
        tuple(kept.params[key].shape) == tuple(fresh.params[key].shape) for key in kept.params)


def _same(now, then):
    """Do two _persistent() results hold the same objects (by identity) and settings?"""
    (held_now, settings_now), (held_then, settings_then) = now, then
    return (len(held_now) == len(held_then) and settings_now == settings_then
            and all(a is b for a, b in zip(held_now, held_then)))

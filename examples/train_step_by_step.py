"""Train the assignment's "Go Crazy" model for a few steps with no fit(): every step by hand.

One training step, as Sequential.fit runs it:
    h      = layer.forward(h, training=True)   for every layer but the final softmax
    loss   = softmax cross-entropy of the logits h (the softmax is fused into the loss)
    g      = dloss/dlogits
    g      = layer.backward(g)                 for the same layers, in reverse
    params -= optimizer update(grads)          Adam, on two parallel lists

    python examples/train_step_by_step.py                  # 20 steps of 128 images
    python examples/train_step_by_step.py --steps 5 --check   # and compare with fit()

With the same seed and the batches in order, the weights come out as those of
model.fit(x, y, batch_size, epochs=1, shuffle=False): --check compares them.

The first loss is about 2.94, not ln 10 = 2.30: the fresh model's logits already
spread (docs/initialisation.md explains the number).
"""
import argparse
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402  (host side: the data and the final comparison)
from assignment4 import go_crazy, inverse_time, load_mnist, positive_int  # noqa: E402

import minicnn  # noqa: E402
from minicnn import backend  # noqa: E402
from minicnn.losses import SoftmaxCrossEntropy  # noqa: E402
from minicnn.optimizers import Adam  # noqa: E402


def train_by_hand(x, y, steps=20, batch_size=128, seed=0, print_fn=print):
    """``steps`` optimiser steps on (x, y), batches in order; returns (losses, model).

    x: (N, 28, 28, 1) float32 images, y: one-hot (N, 10). After
    ``minicnn.seed(seed)`` this draws exactly the random numbers fit does
    (initial weights, then dropout masks), so the results match fit's.
    """
    minicnn.seed(seed)                                  # before building: initial weights
    model = go_crazy()
    model.build()
    loss_fn = SoftmaxCrossEntropy()
    optimizer = Adam(lr=0.003)

    # compile() fuses a final softmax into the loss: the loss takes the logits
    # (the output of the layer before), which is stable and cheaper.
    layers = model.layers[:-1]
    print_fn(f"the final {model.layers[-1].name} is fused into the loss: training runs "
             f"{len(layers)} of {len(model.layers)} layers")
    # dL/d(images) is never used, so the first layer skips it (compile does the same).
    model.layers[0].compute_input_grad = False
    # The trainable arrays, in compile's order (model.runner.slots): every
    # trainable layer, then its params in insertion order (kernel, bias; gamma, beta).
    slots = [(layer, key) for layer in model.layers if layer.trainable for key in layer.params]

    x_dev = backend.to_device(x, dtype=backend.floatx())            # fit moves the data once, up front
    t_dev = backend.to_device(y, dtype=backend.floatx())
    n = x.shape[0]
    batches_per_epoch = math.ceil(n / batch_size)
    losses = []
    for step in range(steps):
        epoch, b = divmod(step, batches_per_epoch)
        if b == 0:                                      # LearningRateScheduler.on_epoch_begin
            optimizer.lr = float(inverse_time(epoch, optimizer.lr))
        idx = backend.to_device(np.arange(b * batch_size, min((b + 1) * batch_size, n)))
        xb, tb = x_dev[idx], t_dev[idx]                 # shuffle=False: batches in order
        first = step == 0

        # forward
        h = xb
        if first:
            print_fn(f"\nforward, batch {tuple(xb.shape)}:")
        for layer in layers:
            h = layer.forward(h, training=True)
            if first:
                print_fn(f"  {layer.name:<24} -> {tuple(h.shape)}")
        loss = loss_fn.forward(h, tb, validate=False)   # mean over the batch, a 0-d array

        # backward
        g = loss_fn.backward()                          # dL/dlogits = (softmax - t) / N
        if first:
            print_fn(f"\nbackward, dL/dlogits {tuple(g.shape)}:")
        for layer in reversed(layers):
            g = layer.backward(g)
            if first:
                dx = "not computed" if g is None else str(tuple(g.shape))
                grads = ", ".join(f"d{k} {tuple(v.shape)}" for k, v in layer.grads.items())
                print_fn(f"  {layer.name:<24} dL/dinput {dx}" + (f"; {grads}" if grads else ""))

        # update: Adam changes every parameter array in place
        params = [layer.params[key] for layer, key in slots]
        grads = [layer.grads[key] for layer, key in slots]
        optimizer.step(params, grads)

        losses.append(float(backend.to_host(loss)))
        if first:
            print_fn(f"\nAdam step on {len(params)} arrays ({sum(int(p.size) for p in params):,} "
                     f"numbers), lr {optimizer.lr}\n")
        print_fn(f"step {step + 1:3d}  epoch {epoch + 1}  batch {b + 1:3d}  loss {losses[-1]:.6f}")
    return losses, model


def train_with_fit(x, y, steps=20, batch_size=128, seed=0):
    """The same steps through Sequential.fit (shuffle=False); returns the model.

    fit normally splits each batch over the CPU cores (minicnn/fast/team.py), which
    adds the same numbers in another order; in one process it computes exactly
    what train_by_hand does, to the last bit.
    """
    from minicnn import fast
    from minicnn.callbacks import LearningRateScheduler
    minicnn.seed(seed)
    model = go_crazy()
    model.compile(loss='categorical_crossentropy', optimizer=Adam(lr=0.003), metrics=['accuracy'])
    n = min(x.shape[0], steps * batch_size)
    processes = fast.get_processes()
    fast.set_processes(1)
    try:
        model.fit(x[:n], y[:n], batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
                  callbacks=[LearningRateScheduler(inverse_time)])
    finally:
        fast.set_processes(processes)
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=positive_int, default=20, help="optimiser steps (default 20)")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true",
                   help="then train the same steps with fit(shuffle=False) and compare the weights")
    args = p.parse_args(argv)
    if args.check and args.steps > math.ceil(60000 / args.batch_size):
        p.error("--check compares one epoch of fit: use at most one pass over the 60,000 "
                "training images")
    (x, y), _ = load_mnist(limit=min(60000, args.steps * args.batch_size))
    losses, model = train_by_hand(x, y, args.steps, args.batch_size, args.seed)
    print(f"\n{len(losses)} steps: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    if args.check:
        other = train_with_fit(x, y, args.steps, args.batch_size, args.seed)
        diff = max(float(np.abs(a - b).max()) for a, b in
                   zip(model.get_weights(), other.get_weights()))
        print(f"fit(shuffle=False) on the same batches: largest weight difference {diff:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

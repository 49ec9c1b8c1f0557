"""Every model of Assignment 4 (Keras, MNIST: 99.4% under 15K parameters), in minicnn.

The model code below is the assignment's, with only the imports changed.

    python examples/assignment4.py                      # "Go Crazy", 20 epochs, NumPy
    python examples/assignment4.py --backend cupy       # the same on a GPU
    python examples/assignment4.py --list               # every model, by name
    python examples/assignment4.py --model all --summary
    python examples/assignment4.py --limit 2000 --epochs 1   # a quick look
    python examples/assignment4.py --limit 3000 --epochs 2 --plots   # + filters, feature maps...
    python examples/assignment4.py --profile            # time each layer on one batch, no training
    python examples/assignment4.py --textbook           # the readable classes of minicnn/nn

Writes <out>/<model>_history.csv (and a PNG of the curves where matplotlib is
installed) and ends with this run beside the assignment's reported figures.
With --plots it also draws <model>_filters.png, <model>_feature_maps.png (the
first test image) and <model>_misclassified.png there.

The validation data is the test set, as in the assignment, so the "best" figure is
chosen on the test set (docs/generalisation.md). A run as short as --limit 3000
--epochs 2 validates before batch norm's moving statistics have settled, which
understates what it learned (docs/batchnorm_lag.md).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minicnn  # noqa: E402
from minicnn.callbacks import CSVLogger, LearningRateScheduler  # noqa: E402
from minicnn.datasets import mnist  # noqa: E402
from minicnn.layers import Activation, BatchNormalization, Convolution2D, Dropout, Flatten, MaxPooling2D  # noqa: E402
from minicnn.models import Sequential, textbook_copy  # noqa: E402
from minicnn.nn.base import textbook_twin  # noqa: E402
from minicnn.optimizers import SGD, Adam  # noqa: E402
from minicnn.schedules import inverse_time_decay  # noqa: E402
from minicnn.utils import to_categorical  # noqa: E402


# ---- the models, as the assignment writes them --------------------------------
def vanilla():
    """Section 1, "Vanilla Architecture": 49,220 params, SGD (Keras' 'sgd': lr 0.01), batch 64.

    Built from the section's code (16-32-10-pool-16-32-32-64-10). The summary
    and log printed under it in the assignment are a copy of section 2's run
    (the same 10,524-param table, the same epoch lines and History address),
    so its reported figures are section 2's.
    """
    model = Sequential()
    model.add(Convolution2D(16, 3, 3, activation='relu', input_shape=(28, 28, 1)))   # 26
    model.add(Convolution2D(32, 3, 3, activation='relu'))                            # 24
    model.add(Convolution2D(10, 1, 1, activation='relu'))                            # 24
    model.add(MaxPooling2D(pool_size=(2, 2)))                                        # 12
    model.add(Convolution2D(16, 3, 3, activation='relu'))                            # 10
    model.add(Convolution2D(32, 3, 3, activation='relu'))                            # 8
    model.add(Convolution2D(32, 3, 3, activation='relu'))                            # 6
    model.add(Convolution2D(64, 3, 3, activation='relu'))                            # 4
    model.add(Convolution2D(10, 4))
    model.add(Flatten())
    model.add(Activation('softmax'))
    return model


def kernel_optimised():
    """Section 2, "Kernel Optimization": 10,524 params, SGD lr 0.01, batch 64."""
    model = Sequential()
    model.add(Convolution2D(8, (3, 3), activation='relu', input_shape=(28, 28, 1)))  # 26
    model.add(Convolution2D(16, (3, 3), activation='relu'))                          # 24
    model.add(Convolution2D(10, (1, 1), activation='relu'))                          # 24
    model.add(MaxPooling2D(pool_size=(2, 2)))                                        # 12
    model.add(Convolution2D(8, (3, 3), activation='relu'))                           # 10
    model.add(Convolution2D(16, (3, 3), activation='relu'))                          # 8
    model.add(Convolution2D(16, (3, 3), activation='relu'))                          # 6
    model.add(Convolution2D(16, (3, 3), activation='relu'))                          # 4
    model.add(Convolution2D(10, 4))
    model.add(Flatten())
    model.add(Activation('softmax'))
    return model


def go_crazy():
    """Section 3, "Go Crazy": 13,880 params; BN, dropout 0.1, Adam lr 0.003,
    lr = 0.003 / (1 + 0.319 * epoch), batch 128, 20 epochs."""
    model = Sequential()
    model.add(Convolution2D(12, 3, 3, activation='relu', input_shape=(28, 28, 1)))   # 26
    model.add(BatchNormalization())
    model.add(Dropout(0.1))
    model.add(Convolution2D(20, 3, 3, activation='relu'))                            # 24
    model.add(BatchNormalization())
    model.add(Dropout(0.1))
    model.add(Convolution2D(10, 1, 1, activation='relu'))                            # 24
    model.add(MaxPooling2D(pool_size=(2, 2)))                                        # 12
    model.add(Convolution2D(16, 3, 3, activation='relu'))                            # 10
    model.add(BatchNormalization())
    model.add(Dropout(0.1))
    model.add(Convolution2D(16, 3, 3, activation='relu'))                            # 8
    model.add(BatchNormalization())
    model.add(Dropout(0.1))
    model.add(Convolution2D(16, 3, 3, activation='relu'))                            # 6
    model.add(BatchNormalization())
    model.add(Dropout(0.1))
    model.add(Convolution2D(16, 3, 3, activation='relu'))                            # 4
    model.add(BatchNormalization())
    model.add(Dropout(0.1))
    model.add(Convolution2D(10, 4))
    model.add(Flatten())
    model.add(Activation('softmax'))
    return model


def _conv_bn_drop(model, filters, kernel, **kwargs):
    """Conv2D(relu) + BatchNormalization + Dropout(0.1): the unit of the "other" models."""
    model.add(Convolution2D(filters, kernel, activation='relu', **kwargs))
    model.add(BatchNormalization())
    model.add(Dropout(0.1))


def other_1():
    """Other architecture 1: 20,010 params. The assignment shows no optimiser or
    batch size here: plain SGD (lr 0.01) and batch 64, as its neighbours use."""
    model = Sequential()
    _conv_bn_drop(model, 8, (3, 3), input_shape=(28, 28, 1))                         # 26
    _conv_bn_drop(model, 16, (3, 3))                                                 # 24
    _conv_bn_drop(model, 32, (3, 3))                                                 # 22
    model.add(Convolution2D(10, 1, activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))                                        # 11
    _conv_bn_drop(model, 16, (3, 3))                                                 # 9
    _conv_bn_drop(model, 32, (3, 3))                                                 # 7
    _conv_bn_drop(model, 10, 1)
    _conv_bn_drop(model, 20, (3, 3))                                                 # 5
    model.add(Convolution2D(10, 5))
    model.add(Flatten())
    model.add(Activation('softmax'))
    return model


def other_2():
    """Other architecture 2: 12,664 params. No optimiser or batch size shown:
    plain SGD (lr 0.01) and batch 64, as its neighbours use."""
    model = Sequential()
    _conv_bn_drop(model, 10, (3, 3), input_shape=(28, 28, 1))                        # 26
    _conv_bn_drop(model, 16, (3, 3))                                                 # 24
    model.add(Convolution2D(10, 1, activation='relu'))
    _conv_bn_drop(model, 20, (3, 3))                                                 # 22
    model.add(MaxPooling2D(pool_size=(2, 2)))                                        # 11
    _conv_bn_drop(model, 10, (3, 3))                                                 # 9
    _conv_bn_drop(model, 16, (3, 3))                                                 # 7
    _conv_bn_drop(model, 10, 1)
    _conv_bn_drop(model, 16, (3, 3))                                                 # 5
    _conv_bn_drop(model, 16, (3, 3))                                                 # 3
    model.add(Convolution2D(10, 3))
    model.add(Flatten())
    model.add(Activation('softmax'))
    return model


def other_3():
    """Other architecture 3: 15,958 params. No optimiser or batch size shown:
    plain SGD (lr 0.01) and batch 64, as its neighbours use."""
    model = Sequential()
    _conv_bn_drop(model, 64, (3, 3), input_shape=(28, 28, 1))                        # 26
    model.add(Convolution2D(10, 1, activation='relu'))
    _conv_bn_drop(model, 16, (3, 3))                                                 # 24
    _conv_bn_drop(model, 16, (3, 3))                                                 # 22
    model.add(MaxPooling2D(pool_size=(2, 2)))                                        # 11
    _conv_bn_drop(model, 16, (3, 3))                                                 # 9
    _conv_bn_drop(model, 16, (3, 3))                                                 # 7
    _conv_bn_drop(model, 10, 1)
    _conv_bn_drop(model, 16, (3, 3))                                                 # 5
    model.add(Convolution2D(10, 5))
    model.add(Flatten())
    model.add(Activation('softmax'))
    return model


def other_4():
    """Other architecture 4: 10,844 params, SGD (Keras' 'sgd': lr 0.01); no batch
    size shown: 64, as sections 1 and 2 use."""
    model = Sequential()
    _conv_bn_drop(model, 8, (3, 3), input_shape=(28, 28, 1))                         # 26
    _conv_bn_drop(model, 16, (3, 3))                                                 # 24
    model.add(Convolution2D(10, (1, 1), activation='relu'))                          # 24
    model.add(MaxPooling2D(pool_size=(2, 2)))                                        # 12
    _conv_bn_drop(model, 8, (3, 3))                                                  # 10
    _conv_bn_drop(model, 16, (3, 3))                                                 # 8
    _conv_bn_drop(model, 16, (3, 3))                                                 # 6
    _conv_bn_drop(model, 16, (3, 3))                                                 # 4
    model.add(Convolution2D(10, 4))
    model.add(Flatten())
    model.add(Activation('softmax'))
    return model


def inverse_time(epoch, lr):
    """The assignment's scheduler: round(0.003 * 1/(1 + 0.319 * epoch), 10)."""
    return inverse_time_decay(0.003, 0.319)(epoch, lr)


# name -> (builder, optimizer factory, batch size, epochs, schedule, reported figures)
# reported: params the assignment prints, best and last val_acc of its log (None: not shown)
MODELS = {
    "vanilla": (vanilla, lambda: SGD(lr=0.01), 64, 20, None,
                dict(params="10,524*", best=0.9823, last=0.9776)),
    "kernel-optimised": (kernel_optimised, lambda: SGD(lr=0.01), 64, 20, None,
                         dict(params="10,524", best=0.9823, last=0.9776)),
    "go-crazy": (go_crazy, lambda: Adam(lr=0.003), 128, 20, inverse_time,
                 dict(params="13,880", best=0.9945, last=0.9919)),
    "other-1": (other_1, lambda: SGD(lr=0.01), 64, 20, None,
                dict(params="20,010", best=0.9943, last=0.9943)),
    "other-2": (other_2, lambda: SGD(lr=0.01), 64, 20, None,
                dict(params="12,664", best=None, last=None)),
    "other-3": (other_3, lambda: SGD(lr=0.01), 64, 20, None,
                dict(params="15,958", best=0.9940, last=0.9939)),
    "other-4": (other_4, lambda: SGD(lr=0.01), 64, 20, None,
                dict(params="-", best=0.9942, last=None)),
}


def load_mnist(limit=None):
    """The assignment's data preparation: NHWC float32 in [0, 1], one-hot labels."""
    (X_train, y_train), (X_test, y_test) = mnist.load_data()
    if limit is not None:
        X_train, y_train = X_train[:limit], y_train[:limit]
    X_train = X_train.reshape(X_train.shape[0], 28, 28, 1).astype('float32') / 255
    X_test = X_test.reshape(X_test.shape[0], 28, 28, 1).astype('float32') / 255
    Y_train = to_categorical(y_train, 10)
    Y_test = to_categorical(y_test, 10)
    return (X_train, Y_train), (X_test, Y_test)


def _pct(v):
    return "-" if v is None else f"{100 * v:.2f}%"


def build_model(name, textbook=False):
    """The model ``name``, with the fast classes (minicnn.layers, minicnn.optimizers), or
    with the textbook ones (minicnn.nn) for --textbook; compiled with its optimizer."""
    build, make_optimizer = MODELS[name][:2]
    model, optimizer = build(), make_optimizer()
    if textbook:
        model = textbook_copy(model)
        optimizer = textbook_twin(optimizer)
    model.compile(loss='categorical_crossentropy', optimizer=optimizer, metrics=['accuracy'])
    return model


def train(name, args, data):
    _, _, batch_size, epochs, schedule, reported = MODELS[name]
    batch_size = batch_size if args.batch_size is None else args.batch_size
    epochs = epochs if args.epochs is None else args.epochs
    print(f"\n=== {name}: batch {batch_size}, {epochs} epochs, backend {minicnn.get_backend()}, "
          f"seed {args.seed}{', textbook classes' if args.textbook else ''} ===")
    model = build_model(name, args.textbook)
    model.summary()
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, f"{name}_history.csv")
    callbacks = [CSVLogger(csv_path)]
    if schedule is not None:
        callbacks.insert(0, LearningRateScheduler(schedule, verbose=1))
    (X_train, Y_train), (X_test, Y_test) = data
    start = time.perf_counter()
    history = model.fit(X_train, Y_train, batch_size=batch_size, epochs=epochs, verbose=args.verbose,
                        validation_data=(X_test, Y_test), callbacks=callbacks)
    wall = time.perf_counter() - start
    val = history.history.get("val_acc", [])
    print(f"wrote {csv_path}")
    try:
        from minicnn import viz
        png = viz.plot_history(history, os.path.join(args.out, f"{name}_history.png"), title=name)
        print(f"wrote {png}")
    except ImportError as err:
        print(f"(no PNG of the curves: {err})")
    if args.plots:
        pictures(name, model, X_test, Y_test, args.out)
    return dict(name=name, params=model.count_params(), best=max(val) if val else None,
                last=val[-1] if val else None, wall=wall, reported=reported)


def pictures(name, model, X_test, Y_test, out):
    """--plots: the first layer's filters, its feature maps for one digit, the test errors."""
    from minicnn import viz
    png = {what: os.path.join(out, f"{name}_{what}.png")
           for what in ("filters", "feature_maps", "misclassified")}
    try:
        paths = [viz.show_filters(model, png["filters"]),
                 viz.show_feature_maps(model, X_test[0], png["feature_maps"]),
                 viz.show_misclassified(model, X_test, Y_test, png["misclassified"])]
    except ImportError:
        print('--plots: no pictures, matplotlib is not installed; get it with '
              'pip install -e ".[plot]" (or pip install matplotlib).')
        return
    for path in paths:
        print(f"wrote {path}")


def profile(name, args, data):
    """--profile: where one training step of the model's batch size spends its time."""
    batch_size = MODELS[name][2] if args.batch_size is None else args.batch_size
    (X_train, Y_train), _ = data
    print(f"\n=== {name}: one training step, batch {batch_size}, "
          f"backend {minicnn.get_backend()} ===")
    model = build_model(name, args.textbook)
    model.profile(X_train[:batch_size], Y_train[:batch_size])


def positive_int(text):
    """argparse type: an int >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text):
    """argparse type: an int >= 0 (a seed)."""
    return _int_at_least(text, 0)


def _int_at_least(text, low):
    value = int(text)
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {low} or more, got {value}")
    return value


def out_problem(out):
    """Why --out cannot be the results folder (it or a folder above it is a file), or None."""
    path = os.path.abspath(out)
    while not os.path.exists(path):                 # the part that exists: made by makedirs
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        return (f"--out {out}: {path} is a file, not a folder; give a folder for the CSV "
                "and PNG files (it is created if missing), e.g. --out runs")
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--model", default="go-crazy", help="a name from --list, or 'all'")
    p.add_argument("--list", action="store_true", help="list the models and stop")
    p.add_argument("--summary", action="store_true", help="print the summaries and stop")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the model's epochs")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="override the model's batch size")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--limit", type=positive_int, default=None, help="train on the first N images only")
    p.add_argument("--out", default="runs", help="directory for CSV and PNG files")
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    p.add_argument("--plots", action="store_true",
                   help="after training, also draw filters, feature maps and misclassified digits")
    p.add_argument("--profile", action="store_true",
                   help="time each layer on one training batch and stop (no training)")
    p.add_argument("--textbook", action="store_true",
                   help="run the textbook classes (minicnn/nn): the readable code, slower")
    args = p.parse_args(argv)
    problem = out_problem(args.out)
    if problem:
        p.error(problem)

    if args.list:
        for name, (build, _, batch_size, epochs, schedule, _) in MODELS.items():
            doc = " ".join(build.__doc__.split())
            print(f"{name:<17} {doc}")
        return 0
    names = list(MODELS) if args.model == "all" else [args.model]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        p.error(f"unknown model {unknown[0]!r}; choose one of: {', '.join(MODELS)} or all")
    if args.summary:
        for name in names:
            print(f"\n=== {name} ===")
            MODELS[name][0]().summary()
        return 0
    try:
        minicnn.set_backend(args.backend)
    except RuntimeError as err:     # the library's advice, in this command line's words
        message = str(err)
        for call, flag in (("set_backend('numpy')", "--backend numpy"),
                           ("set_backend('cupy')", "--backend cupy")):
            message = message.replace(call, flag)
        p.exit(2, f"error: {message}\n")
    minicnn.seed(args.seed)
    data = load_mnist(args.limit)
    if args.profile:
        for name in names:
            minicnn.seed(args.seed)
            profile(name, args, data)
        return 0
    results = []
    for name in names:
        minicnn.seed(args.seed)
        results.append(train(name, args, data))
    print("\nThis run beside the assignment's reported figures (val_acc on the 10,000 test images):")
    print(f"{'model':<17} {'params':>8} {'best':>8} {'last':>8} {'time':>8}   "
          f"{'assignment: params':>18} {'best':>8} {'last':>8}")
    for r in results:
        rep = r["reported"]
        print(f"{r['name']:<17} {r['params']:>8,} {_pct(r['best']):>8} {_pct(r['last']):>8} "
              f"{r['wall']:>7.0f}s   {rep['params']:>18} {_pct(rep['best']):>8} {_pct(rep['last']):>8}")
    if any(r["name"] == "vanilla" for r in results):
        print("* section 1 prints section 2's summary and log, so its figures are section 2's.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

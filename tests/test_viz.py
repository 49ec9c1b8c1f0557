"""minicnn.viz: each picture is a PNG written where asked; without matplotlib, a clear error."""
import sys

import numpy as np
import pytest

import minicnn
from minicnn import viz
from minicnn.callbacks import History
from minicnn.layers import Activation, BatchNormalization, Conv2D, Dropout, Flatten, MaxPooling2D
from minicnn.models import Sequential

PNG = b"\x89PNG\r\n\x1a\n"


def _model():
    minicnn.seed(0)
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)),
                        BatchNormalization(), Dropout(0.1),
                        Conv2D(3, 3, activation="relu", name="second"), MaxPooling2D(2),
                        Flatten(), Activation("softmax")])
    model.compile(optimizer="adam")
    return model


def _data(n=20):
    rng = np.random.default_rng(2)
    return rng.random((n, 12, 12, 1), dtype=np.float32), rng.integers(0, 48, n)


def _is_png(path):
    with open(path, "rb") as f:
        head = f.read(8)
    return head == PNG


@pytest.fixture
def plt():
    return pytest.importorskip("matplotlib")


def test_show_filters_first_conv_and_multichannel(plt, tmp_path):
    model = _model()
    path = str(tmp_path / "filters.png")
    assert viz.show_filters(model, path) == path and _is_png(path)
    path2 = str(tmp_path / "filters2.png")
    assert viz.show_filters(model, path2, layer="second") == path2 and _is_png(path2)
    assert not list(tmp_path.glob("*.tmp*"))               # written atomically, no leftovers
    with pytest.raises(ValueError, match="kernel"):
        viz.show_filters(model, str(tmp_path / "x.png"), layer=1)   # batch norm


def test_show_feature_maps_by_default_name_and_index(plt, tmp_path):
    model = _model()
    x, _ = _data()
    before = model.get_weights()
    for layer in (None, "second", 2):
        path = str(tmp_path / f"maps_{layer}.png")
        assert viz.show_feature_maps(model, x[0], path, layer=layer) == path
        assert _is_png(path)
    for a, b in zip(before, model.get_weights()):          # inference mode: BN stats untouched
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="not images"):
        viz.show_feature_maps(model, x[0], str(tmp_path / "x.png"), layer=-2)
    with pytest.raises(ValueError, match="no layer named"):
        viz.show_feature_maps(model, x[0], str(tmp_path / "x.png"), layer="nope")


def test_show_misclassified_labels_and_one_hot(plt, tmp_path):
    model = _model()
    x, y = _data()
    path = str(tmp_path / "wrong.png")
    assert viz.show_misclassified(model, x, y, path, max_images=5) == path and _is_png(path)
    one_hot = np.eye(48, dtype=np.float32)[y]
    path2 = str(tmp_path / "wrong2.png")
    assert viz.show_misclassified(model, x, one_hot, path2) == path2 and _is_png(path2)
    right = model.predict(x).argmax(axis=1)                 # nothing wrong: still a picture
    path3 = str(tmp_path / "none.png")
    assert viz.show_misclassified(model, x, right, path3) == path3 and _is_png(path3)


def test_plot_history(plt, tmp_path):
    h = History()
    h.history = {"loss": [1.0, 0.5], "acc": [0.5, 0.8], "val_loss": [1.1, 0.6],
                 "val_acc": [0.4, 0.7]}
    path = str(tmp_path / "h.png")
    assert viz.plot_history(h, path) == path and _is_png(path)


def test_a_failed_picture_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "h.png"
    path.write_bytes(PNG + b"old")

    class Broken:                                        # writes half a file, then fails
        def savefig(self, f, **kwargs):
            f.write(PNG)
            raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        viz._save(Broken(), str(path))
    assert path.read_bytes() == PNG + b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["h.png"]


def test_without_matplotlib_every_function_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import matplotlib now fails
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    model = _model()
    x, y = _data()
    out = str(tmp_path / "x.png")
    calls = [lambda: viz.show_filters(model, out),
             lambda: viz.show_feature_maps(model, x[0], out),
             lambda: viz.show_misclassified(model, x, y, out),
             lambda: viz.plot_history({"loss": [1.0], "acc": [0.5]}, out)]
    for call in calls:
        with pytest.raises(ImportError, match="pip install"):
            call()
    assert not (tmp_path / "x.png").exists()


def test_pictures_on_the_strict_cupy_stand_in(plt, strict_backend, tmp_path):
    model = _model()                                        # parameters live on the stand-in
    x, y = _data()
    for path, call in ((tmp_path / "f.png", lambda p: viz.show_filters(model, p)),
                       (tmp_path / "m.png", lambda p: viz.show_feature_maps(model, x[0], p)),
                       (tmp_path / "w.png", lambda p: viz.show_misclassified(model, x, y, p))):
        assert call(str(path)) == str(path) and _is_png(path)


# ---- the pictures added for the course ----------------------------------------------
def test_filters_and_feature_maps_carry_a_colour_key_and_say_after_relu(plt, tmp_path, monkeypatch):
    import matplotlib.figure
    model = _model()
    x, _ = _data()
    bars, titles = [], []
    real_colorbar, real_suptitle = matplotlib.figure.Figure.colorbar, matplotlib.figure.Figure.suptitle
    monkeypatch.setattr(matplotlib.figure.Figure, "colorbar",
                        lambda self, *a, **k: bars.append(1) or real_colorbar(self, *a, **k))
    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle",
                        lambda self, t, *a, **k: titles.append(t) or real_suptitle(self, t, *a, **k))
    viz.show_filters(model, str(tmp_path / "f.png"))
    viz.show_feature_maps(model, x[0], str(tmp_path / "m.png"))
    viz.show_feature_maps(model, x[0], str(tmp_path / "bn.png"), layer=1)
    assert bars == [1, 1, 1]
    assert "after ReLU" in titles[1] and "after ReLU" not in titles[2]


def test_deep_feature_maps_one_row_per_convolution(plt, tmp_path):
    model = _model()
    x, _ = _data()
    path = str(tmp_path / "deep.png")
    assert viz.show_deep_feature_maps(model, x[0], path) == path and _is_png(path)
    path2 = str(tmp_path / "deep2.png")
    assert viz.show_deep_feature_maps(model, x[0], path2, layers=["second", 1], max_channels=2) == path2
    with pytest.raises(ValueError, match="not images"):
        viz.show_deep_feature_maps(model, x[0], str(tmp_path / "x.png"), layers=[-2])
    with pytest.raises(ValueError, match="max_channels"):
        viz.show_deep_feature_maps(model, x[0], str(tmp_path / "x.png"), max_channels=0)
    assert not (tmp_path / "x.png").exists()


def test_confusion_matrix_counts_and_picture(plt, tmp_path):
    from minicnn.diagnostics import confusion_matrix
    counts = confusion_matrix(np.array([0, 1, 1, 2, 2, 2]), np.array([0, 1, 2, 2, 0, 2]), 3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [1, 0, 2]])
    with pytest.raises(ValueError, match="classes 0..2"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    model = _model()
    x, y = _data()
    path = str(tmp_path / "cm.png")
    assert viz.plot_confusion_matrix(model, x, y, path) == path and _is_png(path)
    with pytest.raises(ValueError, match="20 samples but y has 3"):
        viz.plot_confusion_matrix(model, x, y[:3], str(tmp_path / "x.png"))


def test_misclassified_titles_give_the_confidence(plt, tmp_path, monkeypatch):
    import matplotlib.axes
    model = _model()
    x, y = _data()
    titles = []
    real = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title",
                        lambda self, t, *a, **k: titles.append(t) or real(self, t, *a, **k))
    viz.show_misclassified(model, x, y, str(tmp_path / "w.png"), max_images=3)
    probabilities = model.predict(x)
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != y)[:3]
    assert titles == [f"true {y[i]} / pred {probabilities[i].argmax()}, "
                      f"{probabilities[i].max():.0%}" for i in wrong]


def test_activation_histograms_leave_the_models_unchanged(plt, tmp_path):
    fresh, trained = _model(), _model()
    x, y = _data()
    trained.fit(x, y, batch_size=10, epochs=1, verbose=0)
    before = [m.get_weights() for m in (fresh, trained)]
    path = str(tmp_path / "hist.png")
    assert viz.plot_activation_histograms({"fresh": fresh, "trained": trained}, x, path) == path
    assert _is_png(path)
    for model, weights in zip((fresh, trained), before):
        for a, b in zip(weights, model.get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="dict"):
        viz.plot_activation_histograms([fresh], x, path)


def test_without_matplotlib_the_new_pictures_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    model = _model()
    x, y = _data()
    out = str(tmp_path / "x.png")
    for call in (lambda: viz.show_deep_feature_maps(model, x[0], out),
                 lambda: viz.plot_confusion_matrix(model, x, y, out),
                 lambda: viz.plot_activation_histograms({"m": model}, x, out)):
        with pytest.raises(ImportError, match="pip install"):
            call()
    assert not (tmp_path / "x.png").exists()

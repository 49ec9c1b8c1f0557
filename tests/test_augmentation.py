"""ImageDataGenerator (minicnn/preprocessing/image.py): the vectorised affine sampler
against exact expectations (identity, quarter turns, whole-pixel shifts, flips) and against
a slow per-pixel reference, every fill mode, the random parameters, flow()'s epochs and
seeds, the normalisation options, the strict CuPy stand-in, and a model trained on flow().
"""
import math

import numpy as np
import pytest

from minicnn import backend
from minicnn.layers import Activation, Conv2D, Dense, Flatten, MaxPooling2D
from minicnn.models import Sequential
from minicnn.optimizers import Adam
from minicnn.preprocessing import image
from minicnn.preprocessing.image import ImageDataGenerator, affine_matrices, resample
from tests.strict_xp import StrictArray, from_strict, to_strict

NUMPY_PAD_MODE = {"nearest": "edge", "reflect": "symmetric", "wrap": "wrap", "constant": "constant"}


def images(n=3, height=6, width=6, channels=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, height, width, channels)).astype("float32")


def parameters(n, **values):
    """A full parameter dict of (n,) arrays: the identity, with ``values`` in place."""
    out = {key: np.full(n, default) for key, default in image.GEOMETRY_DEFAULTS.items()}
    out.update({key: np.broadcast_to(np.asarray(value), (n,)) for key, value in values.items()})
    out.update({key: None for key in image.INTENSITY_KEYS if key not in values})
    return out


def reference_transform(picture, matrix, fill_mode, cval):
    """The slow reference: one pixel at a time, bilinear between the four neighbours, the
    image extended by numpy.pad in the matching mode (float64)."""
    height, width, _ = picture.shape
    pad = 4 * max(height, width)
    padded = np.pad(picture.astype(np.float64), ((pad, pad), (pad, pad), (0, 0)),
                    mode=NUMPY_PAD_MODE[fill_mode])
    out = np.zeros(picture.shape)
    for row in range(height):
        for col in range(width):
            source_row = matrix[0, 0] * row + matrix[0, 1] * col + matrix[0, 2]
            source_col = matrix[1, 0] * row + matrix[1, 1] * col + matrix[1, 2]
            if fill_mode == "constant" and not (0 <= source_row <= height - 1
                                                and 0 <= source_col <= width - 1):
                out[row, col] = cval
                continue
            top, left = math.floor(source_row), math.floor(source_col)
            down, right = source_row - top, source_col - left
            for d_row, row_weight in ((0, 1 - down), (1, down)):
                for d_col, col_weight in ((0, 1 - right), (1, right)):
                    out[row, col] += (row_weight * col_weight
                                      * padded[pad + top + d_row, pad + left + d_col])
    return out


# ---- exact cases ----------------------------------------------------------------------
def test_the_default_generator_and_a_zero_transform_are_exactly_the_identity():
    x = images()
    assert np.array_equal(ImageDataGenerator().random_transform(x, seed=1), x)
    assert np.array_equal(ImageDataGenerator(zoom_range=0.0, shear_range=0.0,
                                             rotation_range=0).random_transform(x, seed=1), x)
    zero = {"theta": 0, "tx": 0, "ty": 0, "shear": 0, "zx": 1, "zy": 1,
            "flip_horizontal": False, "flip_vertical": False}
    assert np.array_equal(ImageDataGenerator().apply_transform(x[0], zero), x[0])


@pytest.mark.parametrize("fill_mode", image.FILL_MODES)
def test_the_sampler_itself_reproduces_the_image_under_the_identity_matrix(fill_mode):
    x = images(height=5, width=7)
    identity = np.broadcast_to(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "float32"), (3, 2, 3))
    assert np.array_equal(resample(x, np.ascontiguousarray(identity), fill_mode, cval=9.0), x)


@pytest.mark.parametrize("size", [5, 6])
@pytest.mark.parametrize("theta, turns", [(90, -1), (-90, 1), (180, 2), (270, 1)])
def test_quarter_turns_are_np_rot90_and_positive_theta_turns_clockwise(size, theta, turns):
    """Keras' sign: theta > 0 maps output (r, c) to input R(theta) (r, c) about the centre,
    which turns the picture clockwise on screen, np.rot90(x, k=-1)."""
    x = images(height=size, width=size)
    turned = ImageDataGenerator().apply_transform(x, {"theta": theta})
    assert np.array_equal(turned, np.rot90(x, k=turns, axes=(1, 2)))


def test_the_rotation_direction_of_keras_preprocessing_with_its_centre_corrected():
    """keras-preprocessing's own test of the corrected centre (its pull request 314)."""
    x = np.array([[0.0, 1.0], [0.0, 0.0]], "float32")[:, :, None]
    turned = image.apply_affine_transform(x, theta=90)
    assert np.array_equal(turned[:, :, 0], [[0.0, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize("fill_mode", image.FILL_MODES)
@pytest.mark.parametrize("tx, ty", [(2, 0), (0, -3), (-1, 2), (7, 0)])
def test_whole_pixel_shifts_are_np_roll_with_the_fill_mode_at_the_border(fill_mode, tx, ty):
    """out[r, c] = in[r + tx, c + ty]: a roll by (-tx, -ty) whose wrapped-in border is
    replaced by the fill mode's extension of the image (numpy.pad's matching mode)."""
    x = images(n=2, height=5, width=6)
    shifted = ImageDataGenerator(fill_mode=fill_mode, cval=-4.0).apply_transform(x, {"tx": tx, "ty": ty})
    pad = 8
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=NUMPY_PAD_MODE[fill_mode],
                    **({"constant_values": -4.0} if fill_mode == "constant" else {}))
    expected = padded[:, pad + tx:pad + tx + 5, pad + ty:pad + ty + 6]
    assert np.array_equal(shifted, expected)
    rows = (np.arange(5) + tx >= 0) & (np.arange(5) + tx < 5)         # read from inside the image
    cols = (np.arange(6) + ty >= 0) & (np.arange(6) + ty < 6)
    rolled = np.roll(x, (-tx, -ty), axis=(1, 2))
    assert np.array_equal(shifted[:, rows][:, :, cols], rolled[:, rows][:, :, cols])
    if fill_mode == "wrap":
        assert np.array_equal(shifted, np.roll(x, (-tx, -ty), axis=(1, 2)))


def test_the_fill_modes_on_one_row_match_kerass_pictures():
    """Keras' docstring: a row abcd shifted so that three points of each side show."""
    row = np.array([1.0, 2.0, 3.0, 4.0], "float32").reshape(1, 1, 4, 1)
    expected = {"nearest": [1, 1, 1, 1], "reflect": [3, 2, 1, 1], "wrap": [2, 3, 4, 1],
                "constant": [7, 7, 7, 1]}
    for fill_mode, values in expected.items():
        datagen = ImageDataGenerator(fill_mode=fill_mode, cval=7.0)
        assert datagen.apply_transform(row, {"ty": -3}).ravel().tolist() == values, fill_mode


def test_flips_with_probability_one_are_reversed_axes():
    x = images(height=5, width=6)
    datagen = ImageDataGenerator()
    assert np.array_equal(datagen.apply_transform(x, {"flip_horizontal": True}), x[:, :, ::-1])
    assert np.array_equal(datagen.apply_transform(x, {"flip_vertical": True}), x[:, ::-1])
    both = datagen.apply_transform(x, {"flip_horizontal": True, "flip_vertical": True})
    assert np.array_equal(both, x[:, ::-1, ::-1])


def test_random_flips_give_the_image_or_its_mirror_each_about_half_the_time():
    x = np.repeat(images(n=1, height=4, width=5), 200, axis=0)
    out = ImageDataGenerator(horizontal_flip=True).random_transform(x, seed=3)
    mirrored = np.all(out == x[:, :, ::-1], axis=(1, 2, 3))
    same = np.all(out == x, axis=(1, 2, 3))
    assert np.all(mirrored ^ same) and 70 < mirrored.sum() < 130


def test_zoom_one_and_shear_zero_are_identities_and_zoom_two_spreads_rows_from_the_centre():
    x = images(height=7, width=7)
    datagen = ImageDataGenerator(fill_mode="constant")
    assert np.array_equal(datagen.apply_transform(x, {"zx": 1.0, "zy": 1.0, "shear": 0.0}), x)
    assert np.array_equal(ImageDataGenerator(zoom_range=[1, 1]).random_transform(x, seed=0), x)
    zoomed = datagen.apply_transform(x, {"zx": 2.0})           # out[r] = in[3 + 2 (r - 3)]
    assert np.array_equal(zoomed[:, 2:5], x[:, 1:6:2])
    assert np.all(zoomed[:, :2] == 0) and np.all(zoomed[:, 5:] == 0)


def test_the_matrices_are_kerass_product_in_kerass_order():
    """Move(c) @ R @ Shift @ Shear @ Zoom @ Move(-c), as keras-preprocessing's
    apply_affine_transform builds it (with the centre at (size - 1) / 2)."""
    theta, tx, ty, shear, zx, zy = 23.0, 1.5, -2.0, 11.0, 0.9, 1.2
    t, s = np.deg2rad(theta), np.deg2rad(shear)
    rotation = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shearing = np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    centre = np.array([[1, 0, 3.5], [0, 1, 2.0], [0, 0, 1]])
    uncentre = np.array([[1, 0, -3.5], [0, 1, -2.0], [0, 0, 1]])
    expected = centre @ rotation @ shift @ shearing @ zoom @ uncentre
    got = affine_matrices(parameters(1, theta=theta, tx=tx, ty=ty, shear=shear, zx=zx, zy=zy), 8, 5)
    assert np.allclose(got[0], expected[:2], rtol=0, atol=1e-12)


# ---- the vectorised sampler against the slow reference ---------------------------------
@pytest.mark.parametrize("fill_mode", image.FILL_MODES)
def test_random_transforms_match_a_per_pixel_reference(fill_mode):
    x = images(n=6, height=5, width=7, channels=3, seed=4)
    datagen = ImageDataGenerator(rotation_range=40, width_shift_range=0.3, height_shift_range=2.5,
                                 shear_range=20, zoom_range=[0.7, 1.3], horizontal_flip=True,
                                 vertical_flip=True, fill_mode=fill_mode, cval=0.5)
    drawn = datagen.draw_transforms(6, x.shape[1:], np.random.default_rng(7))
    assert np.any(drawn["theta"] != 0) and np.any(drawn["flip_horizontal"])
    out = datagen.apply_transform(x, drawn)
    matrices = affine_matrices(drawn, 5, 7)
    for i in range(6):
        expected = reference_transform(x[i], matrices[i], fill_mode, 0.5)
        np.testing.assert_allclose(out[i], expected, rtol=0, atol=2e-5)


def test_a_shared_random_draw_is_one_image_of_the_batch_transformed_alone():
    x = images(n=4, height=6, width=5, seed=2)
    datagen = ImageDataGenerator(rotation_range=30, zoom_range=0.2, width_shift_range=0.1)
    drawn = datagen.draw_transforms(4, x.shape[1:], np.random.default_rng(0))
    batch = datagen.apply_transform(x, drawn)
    one = {key: None if value is None else value[2].item() for key, value in drawn.items()}
    assert np.array_equal(datagen.apply_transform(x[2], one), batch[2])


# ---- the random parameters -------------------------------------------------------------
def test_get_random_transform_gives_kerass_keys_as_python_numbers_repeatably():
    datagen = ImageDataGenerator(rotation_range=10, width_shift_range=0.2, zoom_range=0.1,
                                 horizontal_flip=True, channel_shift_range=0.5)
    first = datagen.get_random_transform((28, 28, 1), seed=4)
    assert set(first) == {"theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal",
                          "flip_vertical", "channel_shift_intensity", "brightness"}
    assert first == datagen.get_random_transform((28, 28, 1), seed=4)
    assert type(first["theta"]) is float and type(first["flip_horizontal"]) is bool
    assert -10 <= first["theta"] <= 10 and abs(first["ty"]) <= 0.2 * 28 and first["tx"] == 0
    assert 0.9 <= first["zx"] <= 1.1 and first["brightness"] is None


def test_the_shift_range_forms_of_keras():
    rng = np.random.default_rng(0)
    as_int = ImageDataGenerator(width_shift_range=3).draw_transforms(500, (10, 20, 1), rng)["ty"]
    assert set(as_int.tolist()) == {-2.0, -1.0, 0.0, 1.0, 2.0}
    fraction = ImageDataGenerator(height_shift_range=0.25).draw_transforms(500, (8, 20, 1), rng)["tx"]
    assert np.all(np.abs(fraction) <= 2.0) and len(set(fraction.tolist())) > 400
    pixels = ImageDataGenerator(height_shift_range=2.0).draw_transforms(500, (8, 20, 1), rng)["tx"]
    assert np.all(np.abs(pixels) <= 2.0) and np.max(np.abs(pixels)) > 1.5
    listed = ImageDataGenerator(width_shift_range=[2, 5]).draw_transforms(500, (8, 20, 1), rng)["ty"]
    assert set(listed.tolist()) == {-5.0, -2.0, 2.0, 5.0}
    listed_fractions = ImageDataGenerator(width_shift_range=[0.1]).draw_transforms(50, (8, 20, 1), rng)
    assert set(listed_fractions["ty"].tolist()) == {-2.0, 2.0}


def test_zoom_range_as_a_number_or_a_pair():
    assert ImageDataGenerator(zoom_range=0.2).zoom_range == [0.8, 1.2]
    assert ImageDataGenerator(zoom_range=[0.5, 1.5]).zoom_range == [0.5, 1.5]
    drawn = ImageDataGenerator(zoom_range=0.2).draw_transforms(300, (4, 4, 1), np.random.default_rng(1))
    assert np.all((drawn["zx"] >= 0.8) & (drawn["zx"] <= 1.2)) and np.any(drawn["zx"] != drawn["zy"])


def test_channel_shift_and_brightness():
    x = images(n=2, height=3, width=4, channels=3)
    datagen = ImageDataGenerator()
    shifted = datagen.apply_transform(x, {"channel_shift_intensity": [0.5, -0.25]})
    for i, shift in enumerate([0.5, -0.25]):
        assert np.allclose(shifted[i], np.clip(x[i] + shift, x[i].min(), x[i].max()))
    brighter = datagen.apply_transform(x, {"brightness": 1.5})
    assert np.allclose(brighter, x * 1.5)


# ---- flow ---------------------------------------------------------------------------
def numbered(n):
    """n images, each filled with its own index, and labels equal to the index."""
    return np.arange(n, dtype="float32").reshape(n, 1, 1, 1) * np.ones((1, 4, 4, 1), "float32"), np.arange(n)


def test_flow_visits_every_sample_once_per_epoch_in_a_new_order():
    x, y = numbered(20)
    flow = ImageDataGenerator().flow(x, y, batch_size=7, seed=0)
    assert len(flow) == 3
    orders = []
    for _ in range(3):
        batches = [next(flow) for _ in range(len(flow))]
        assert [len(b[1]) for b in batches] == [7, 7, 6]
        seen = np.concatenate([b[0][:, 0, 0, 0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        assert sorted(seen.tolist()) == list(range(20)) and np.array_equal(seen, labels)
        orders.append(labels.tolist())
    assert orders[0] != orders[1] != orders[2]
    in_order = ImageDataGenerator().flow(x, y, batch_size=8, shuffle=False)
    assert [next(in_order)[1].tolist() for _ in range(4)][-2:] == [list(range(16, 20)), list(range(8))]


def test_flow_is_a_sequence_and_without_y_gives_images_alone():
    x, y = numbered(10)
    flow = ImageDataGenerator().flow(x, batch_size=4, shuffle=False)
    assert flow[2].shape == (2, 4, 4, 1) and np.array_equal(flow[1][:, 0, 0, 0], [4, 5, 6, 7])
    with pytest.raises(IndexError):
        flow[3]
    weighted = ImageDataGenerator().flow(x, y, sample_weight=np.linspace(0, 1, 10), batch_size=5,
                                         shuffle=False)
    assert np.allclose(next(weighted)[2], np.linspace(0, 1, 10)[:5])


def test_the_same_seed_gives_the_same_batches_and_another_seed_other_ones():
    x, y = images(n=10, height=6, width=6, channels=1), np.arange(10)
    datagen = ImageDataGenerator(rotation_range=30, width_shift_range=0.2, zoom_range=0.2,
                                 horizontal_flip=True)
    first, again = datagen.flow(x, y, batch_size=4, seed=11), datagen.flow(x, y, batch_size=4, seed=11)
    for _ in range(5):                              # two epochs and a bit
        batch, repeat = next(first), next(again)
        assert np.array_equal(batch[0], repeat[0]) and np.array_equal(batch[1], repeat[1])
    other = datagen.flow(x, y, batch_size=4, seed=12)
    assert not np.array_equal(next(datagen.flow(x, y, batch_size=4, seed=11))[0], next(other)[0])
    backend.seed(5)
    unseeded = next(datagen.flow(x, y, batch_size=4))
    backend.seed(5)
    assert np.array_equal(unseeded[0], next(datagen.flow(x, y, batch_size=4))[0])


def test_validation_split_and_subset():
    x, y = numbered(10)
    datagen = ImageDataGenerator(validation_split=0.3)
    labels = np.arange(10) % 2
    validation = datagen.flow(x, labels, batch_size=10, shuffle=False, subset="validation")
    training = datagen.flow(x, labels, batch_size=10, shuffle=False, subset="training")
    assert next(validation)[0][:, 0, 0, 0].tolist() == [0, 1, 2]
    assert next(training)[0][:, 0, 0, 0].tolist() == list(range(3, 10))
    with pytest.raises(ValueError, match="different classes"):
        datagen.flow(x, y, subset="training")


# ---- normalisation ------------------------------------------------------------------
def test_rescale_is_applied_after_the_transform():
    x = np.random.default_rng(0).integers(0, 256, size=(5, 4, 4, 1)).astype("uint8")
    batch = next(ImageDataGenerator(rescale=1.0 / 255).flow(x, batch_size=5, shuffle=False))
    assert batch.dtype == np.float32 and np.array_equal(batch, x.astype("float32") * (1.0 / 255))


def test_featurewise_and_samplewise_normalisation():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(200, 5, 5, 3)) * [1.0, 3.0, 0.5] + [2.0, -1.0, 5.0]).astype("float32")
    featurewise = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    featurewise.fit(x)
    assert featurewise.mean.shape == (1, 1, 3) and np.allclose(featurewise.mean.ravel(),
                                                               x.mean(axis=(0, 1, 2)), atol=1e-5)
    out = featurewise.standardize(x)
    assert np.allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    assert np.allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-4)
    assert not np.array_equal(out, x)               # a new array: x itself is unchanged
    with pytest.warns(UserWarning, match="samplewise_center on"):
        samplewise = ImageDataGenerator(samplewise_std_normalization=True)
    per_image = samplewise.standardize(x[:4])
    assert np.allclose(per_image.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    assert np.allclose(per_image.std(axis=(1, 2, 3)), 1, atol=1e-4)
    assert np.allclose(samplewise.standardize(x[0]), per_image[0])


def test_zca_whitening_decorrelates_the_pixels():
    rng = np.random.default_rng(1)
    mixing = np.eye(12) + 0.3 * rng.normal(size=(12, 12))
    x = (rng.normal(size=(3000, 12)) @ mixing).reshape(3000, 2, 2, 3).astype("float32")
    with pytest.warns(UserWarning, match="featurewise_center on"):
        datagen = ImageDataGenerator(zca_whitening=True, zca_epsilon=1e-8)
    datagen.fit(x)
    flat = datagen.standardize(x).reshape(3000, 12).astype(np.float64)
    assert np.allclose(flat.T @ flat / 3000, np.eye(12), atol=1e-2)


def test_standardize_before_fit_warns_and_leaves_that_step_out():
    x = images(n=2, channels=1)
    with pytest.warns(UserWarning, match="fit"):
        out = ImageDataGenerator(featurewise_center=True).standardize(x)
    assert np.array_equal(out, x)


def test_fit_with_augment_measures_transformed_copies():
    x = np.ones((8, 6, 6, 1), "float32")
    plain = ImageDataGenerator(featurewise_center=True)
    plain.fit(x)
    shifted = ImageDataGenerator(featurewise_center=True, height_shift_range=[2], fill_mode="constant")
    shifted.fit(x, augment=True, rounds=2, seed=0)
    assert float(plain.mean.ravel()[0]) == 1.0
    assert float(shifted.mean.ravel()[0]) == pytest.approx(4 / 6)   # a shift by 2 either way: 2 rows of 0


def test_preprocessing_function_runs_on_each_image_before_rescale():
    x = images(n=3, channels=1)
    datagen = ImageDataGenerator(preprocessing_function=lambda picture: picture[::-1] + 1.0, rescale=2.0)
    assert np.allclose(datagen.standardize(x), (x[:, ::-1] + 1.0) * 2.0)


# ---- errors ---------------------------------------------------------------------------
def test_clear_errors_for_what_minicnn_does_not_have():
    with pytest.raises(ValueError, match=r"transpose\(0, 2, 3, 1\)"):
        ImageDataGenerator(data_format="channels_first")
    with pytest.raises(ValueError, match="fill_mode"):
        ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(ValueError, match="zoom_range"):
        ImageDataGenerator(zoom_range=1.5)
    with pytest.raises(ValueError, match="rotation_range"):
        ImageDataGenerator(rotation_range=-5)
    datagen = ImageDataGenerator()
    with pytest.raises(NotImplementedError, match="flow"):
        datagen.flow_from_directory("data/train")
    with pytest.raises(ValueError, match="save_to_dir"):
        datagen.flow(images(), save_to_dir="out")
    with pytest.raises(ValueError, match="samples"):
        datagen.flow(images(), np.arange(5))
    with pytest.raises(ValueError, match="unknown transform parameters"):
        datagen.apply_transform(images(), {"rotation": 30})


# ---- the strict CuPy stand-in -------------------------------------------------------
@pytest.mark.parametrize("fill_mode", image.FILL_MODES)
def test_the_strict_backend_gives_the_numpy_batches_with_no_host_copies(fill_mode, strict_backend):
    x, y = images(n=9, height=6, width=5, channels=3, seed=3), np.arange(9)
    options = dict(rotation_range=40, width_shift_range=0.2, height_shift_range=2, shear_range=10,
                   zoom_range=0.2, horizontal_flip=True, vertical_flip=True, channel_shift_range=0.3,
                   fill_mode=fill_mode, cval=0.25, rescale=0.5, samplewise_center=True)
    flow = ImageDataGenerator(**options).flow(to_strict(x), y, batch_size=4, seed=2)
    copies = strict_backend.to_host_count
    device_batches = [next(flow) for _ in range(3)]
    assert strict_backend.to_host_count == copies
    backend.set_backend("numpy")
    host_flow = ImageDataGenerator(**options).flow(x, y, batch_size=4, seed=2)
    for (device_x, device_y), (host_x, host_y) in zip(device_batches, [next(host_flow) for _ in range(3)]):
        assert isinstance(device_x, StrictArray) and np.array_equal(device_y, host_y)
        np.testing.assert_allclose(from_strict(device_x), host_x, rtol=0, atol=1e-6)


# ---- training on flow -----------------------------------------------------------------
def test_a_model_trains_with_fit_generator_on_augmented_batches_from_flow():
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 2
    x = rng.normal(0.0, 0.1, size=(96, 8, 8, 1)).astype("float32")
    x[labels == 0, :, :4] += 1.0                     # bright left half: class 0; right half: 1
    x[labels == 1, :, 4:] += 1.0
    backend.seed(0)
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(2),
                        Flatten(), Dense(2), Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=Adam(lr=0.01), metrics=["accuracy"])
    datagen = ImageDataGenerator(vertical_flip=True, height_shift_range=0.2, zoom_range=0.1)
    one_hot = np.eye(2, dtype="float32")[labels]
    flow = datagen.flow(x, one_hot, batch_size=16, seed=1)
    history = model.fit_generator(flow, steps_per_epoch=len(flow), epochs=8, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 8 and losses[-1] < 0.5 * losses[0]
    assert model.evaluate(x, one_hot, verbose=0)[1] > 0.95


def test_the_iterator_is_a_keras_sequence_and_a_plain_sequence_iterates_once():
    from minicnn.utils import Sequence

    class Halves(Sequence):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return index * 10

    x, y = numbered(6)
    assert isinstance(ImageDataGenerator().flow(x, y), Sequence)
    assert list(Halves()) == [0, 10]
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Sequence())

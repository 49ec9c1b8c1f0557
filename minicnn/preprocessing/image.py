"""Real-time image augmentation with Keras 2.2's interface: ImageDataGenerator and flow().

Keras 2.2.4 takes its ImageDataGenerator from the keras-preprocessing package (1.0.5).
minicnn keeps its arguments, defaults and the meaning of every random parameter, and
transforms a whole batch at once on the backend's arrays (NumPy, or CuPy on a GPU).
Images are channels-last, (N, H, W, C).

One affine map per image
------------------------
Rotation, shift, shear, zoom and the two flips are affine maps of the pixel grid. For
each image they are multiplied into one matrix A that sends an OUTPUT pixel (row, col)
to the point of the INPUT image it shows (the backward map, which
scipy.ndimage.affine_transform takes, and Keras 2.2 through it):

    source_row = A[0, 0] * row + A[0, 1] * col + A[0, 2]
    source_col = A[1, 0] * row + A[1, 1] * col + A[1, 2]

In 3x3 homogeneous form, with c the centre ((H - 1) / 2, (W - 1) / 2):

    A = Move(c) @ Rotation @ Shift @ Shear @ Zoom @ Move(-c) @ Flip

    Rotation [[cos t, -sin t], [sin t, cos t]], t = theta in degrees. theta = 90 turns
             the picture a quarter turn clockwise: np.rot90(x, k=-1, axes=(1, 2)).
    Shift    adds (tx, ty): tx rows (from height_shift_range), ty columns (from
             width_shift_range); out[r, c] = in[r + tx, c + ty], so tx > 0 moves the
             picture up and ty > 0 moves it left.
    Shear    [[1, -sin s], [0, cos s]], s = shear in degrees.
    Zoom     [[zx, 0], [0, zy]]: zx rows, zy columns; above 1 shows more of the image
             (zooms out), below 1 zooms in.
    Flip     row -> H - 1 - row (vertical flip), col -> W - 1 - col (horizontal flip):
             Keras flips the transformed image, which is the same as flipping first
             where the output pixels are looked up.

These are Keras 2.2's matrices in Keras 2.2's order, with one difference: Keras 2.2 put
the centre at (H / 2 + 0.5, W / 2 + 0.5), one pixel off, which keras-preprocessing
corrected later (its pull request 314). minicnn uses the true centre, so a quarter turn
of a square image is exactly np.rot90. Matrix entries within 1e-9 of a whole number are
rounded to it, so quarter turns, flips and whole-pixel shifts land exactly on pixels.

Sampling
--------
resample() computes the source point of every pixel of every image at once, arrays of
shape (N, H, W), and reads the input there by bilinear interpolation between the four
pixels around it (Keras: an order-1 spline, which is the same thing). A neighbour that
falls outside the image is found as ``fill_mode`` says:

    'nearest'   aaaa|abcd|dddd   the nearest edge pixel (the default)
    'reflect'   dcba|abcd|dcba   mirrored about the edge
    'wrap'      abcd|abcd|abcd   periodic
    'constant'  kkkk|abcd|kkkk   cval wherever the source point is outside the image
                                 (no blending with cval at the edge, as scipy's 'constant')

The random parameters are drawn on the host from a NumPy Generator (``flow(seed=...)``
seeds it); only the (N, 2, 3) matrices go to the device. No step loops over the images
in Python, except ``preprocessing_function``, which Keras defines on one image.
"""
import warnings

import numpy as np  # host side: the random parameters and the (N, 2, 3) matrices

from .. import backend
from ..nn.base import is_count, is_number, positive_int
from ..utils import Sequence

FILL_MODES = ("nearest", "constant", "reflect", "wrap")

# apply_transform's parameters (Keras' names) and the value that leaves an image alone
GEOMETRY_DEFAULTS = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0,
                     "flip_horizontal": False, "flip_vertical": False}
INTENSITY_KEYS = ("channel_shift_intensity", "brightness")

_STD_FUZZ = 1e-6                # added to standard deviations before dividing, as Keras
_CHUNK = 256                    # images per resampling in fit(augment=True)


# ---- the transform of a batch -----------------------------------------------------------
def affine_matrices(parameters, height, width):
    """The (N, 2, 3) float64 host matrices A of the transforms in ``parameters``: a dict of
    (N,) host arrays under the keys of GEOMETRY_DEFAULTS (see the module docstring)."""
    theta = np.deg2rad(parameters["theta"])
    shear = np.deg2rad(parameters["shear"])
    n = len(theta)
    centre_row, centre_col = (height - 1) / 2.0, (width - 1) / 2.0
    row_sign = np.where(parameters["flip_vertical"], -1.0, 1.0)       # (N,)
    col_sign = np.where(parameters["flip_horizontal"], -1.0, 1.0)
    rotation = _homogeneous(n, [[np.cos(theta), -np.sin(theta), 0.0],
                                [np.sin(theta), np.cos(theta), 0.0]])
    shift = _homogeneous(n, [[1.0, 0.0, parameters["tx"]], [0.0, 1.0, parameters["ty"]]])
    shearing = _homogeneous(n, [[1.0, -np.sin(shear), 0.0], [0.0, np.cos(shear), 0.0]])
    zoom = _homogeneous(n, [[parameters["zx"], 0.0, 0.0], [0.0, parameters["zy"], 0.0]])
    to_centre = _homogeneous(n, [[1.0, 0.0, centre_row], [0.0, 1.0, centre_col]])
    from_centre = _homogeneous(n, [[1.0, 0.0, -centre_row], [0.0, 1.0, -centre_col]])
    flip = _homogeneous(n, [[row_sign, 0.0, (1.0 - row_sign) * centre_row],    # H-1-row or row
                            [0.0, col_sign, (1.0 - col_sign) * centre_col]])
    matrices = to_centre @ rotation @ shift @ shearing @ zoom @ from_centre @ flip  # (N, 3, 3)
    whole = np.round(matrices)
    matrices = np.where(np.abs(matrices - whole) < 1e-9, whole, matrices)
    return matrices[:, :2, :]                # the last row is always (0, 0, 1)


def _homogeneous(n, rows):
    """(n, 3, 3) matrices: first two rows from ``rows`` (numbers or (n,) arrays), last (0, 0, 1)."""
    matrices = np.zeros((n, 3, 3))
    matrices[:, 2, 2] = 1.0
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            matrices[:, i, j] = value
    return matrices


def resample(images, matrices, fill_mode="nearest", cval=0.0):
    """Each image read at the source points of its matrix, by bilinear interpolation.

    images: (N, H, W, C) on the device; matrices: (N, 2, 3) on the device, images' dtype.
    out[n, r, c] = images[n] at (A_n[0] . (r, c, 1), A_n[1] . (r, c, 1)).
    """
    xp = backend.xp()
    n, height, width, channels = images.shape
    rows = xp.arange(height, dtype=images.dtype).reshape(1, height, 1)
    cols = xp.arange(width, dtype=images.dtype).reshape(1, 1, width)
    a = matrices.reshape(n, 6, 1, 1)                                    # a[:, k]: (N, 1, 1)
    source_rows = a[:, 0] * rows + a[:, 1] * cols + a[:, 2]             # (N, H, W)
    source_cols = a[:, 3] * rows + a[:, 4] * cols + a[:, 5]             # (N, H, W)
    top, left = xp.floor(source_rows), xp.floor(source_cols)
    down = (source_rows - top).reshape(n, height, width, 1)             # weights in [0, 1)
    right = (source_cols - left).reshape(n, height, width, 1)
    top, left = top.astype(xp.int64), left.astype(xp.int64)
    # the four neighbours, as rows of the images seen as one (N*H*W, C) table
    first = xp.arange(n, dtype=xp.int64).reshape(n, 1, 1) * (height * width)
    upper_row = first + _grid_index(top, height, fill_mode) * width     # (N, H, W)
    lower_row = first + _grid_index(top + 1, height, fill_mode) * width
    left_col = _grid_index(left, width, fill_mode)
    right_col = _grid_index(left + 1, width, fill_mode)
    table = images.reshape(n * height * width, channels)
    upper_left, upper_right = table[upper_row + left_col], table[upper_row + right_col]
    lower_left, lower_right = table[lower_row + left_col], table[lower_row + right_col]
    upper = upper_left + right * (upper_right - upper_left)            # (N, H, W, C)
    lower = lower_left + right * (lower_right - lower_left)
    out = upper + down * (lower - upper)
    if fill_mode == "constant":
        outside = ((source_rows < 0) | (source_rows > height - 1)
                   | (source_cols < 0) | (source_cols > width - 1))
        out = xp.where(outside.reshape(n, height, width, 1), xp.asarray(cval, dtype=out.dtype), out)
    return out


def _grid_index(index, size, fill_mode):
    """Pixel indices (any ints) moved into 0 .. size - 1 the way ``fill_mode`` extends an image."""
    xp = backend.xp()
    if fill_mode == "reflect":                  # period 2 * size: 0 1 .. size-1 size-1 .. 1 0
        index = index % (2 * size)
        return xp.where(index >= size, 2 * size - 1 - index, index)
    if fill_mode == "wrap":
        return index % size
    return xp.clip(index, 0, size - 1)          # 'nearest'; 'constant' sets cval afterwards


def channel_shift(images, intensity):
    """Keras' channel shift: add ``intensity`` (N,) to every channel of each image, then clip
    to that image's own range [min, max]."""
    xp = backend.xp()
    shift = backend.to_device(intensity, dtype=images.dtype).reshape(-1, 1, 1, 1)
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    return xp.clip(images + shift, low, high)


def transform_batch(images, parameters, fill_mode="nearest", cval=0.0):
    """images (N, H, W, C) on the device, transformed by ``parameters`` (a dict of (N,) host
    arrays: every key of GEOMETRY_DEFAULTS, and INTENSITY_KEYS as arrays or None)."""
    n, height, width = images.shape[:3]
    matrices = affine_matrices(parameters, height, width)
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if not np.all(matrices == identity):            # nothing to move: leave the pixels as they are
        images = resample(images, backend.to_device(matrices, dtype=images.dtype), fill_mode, cval)
    if parameters["channel_shift_intensity"] is not None:
        images = channel_shift(images, parameters["channel_shift_intensity"])
    if parameters["brightness"] is not None:
        images = images * backend.to_device(parameters["brightness"], dtype=images.dtype).reshape(n, 1, 1, 1)
    return images


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=0, col_axis=1,
                           channel_axis=2, fill_mode="nearest", cval=0.0):
    """Keras' function on one channels-last image (H, W, C): rotate by ``theta`` degrees,
    shift by (tx rows, ty columns), shear by ``shear`` degrees, zoom by (zx, zy).
    Returns an array of the active backend."""
    if (row_axis, col_axis, channel_axis) != (0, 1, 2):
        raise ValueError(f"apply_affine_transform: minicnn images are channels-last (rows, cols, "
                         f"channels): row_axis=0, col_axis=1, channel_axis=2, got {row_axis}, "
                         f"{col_axis}, {channel_axis}; transpose the image to that order.")
    _check_fill_mode(fill_mode, "apply_affine_transform")
    image = _device_images(x, 3, backend.floatx(), "apply_affine_transform")
    parameters = _parameter_arrays({"theta": theta, "tx": tx, "ty": ty, "shear": shear,
                                    "zx": zx, "zy": zy}, 1, "apply_affine_transform")
    return transform_batch(image[None], parameters, fill_mode, float(cval))[0]


# ---- ImageDataGenerator -----------------------------------------------------------------
class ImageDataGenerator:
    """Random augmentation and normalisation of image batches, with Keras 2.2's arguments.

    Geometry: rotation_range (degrees, uniform in [-r, r]); width_shift_range and
    height_shift_range (a float below 1: a fraction of the width/height; a float from 1:
    pixels, uniform in [-r, r]; an int r: a whole number of pixels from -(r-1) .. r-1; a
    list: one of its values with a random sign, as a fraction if all are below 1); shear_range
    (degrees); zoom_range (z: uniform in [1 - z, 1 + z] for rows and columns apart; or
    [lower, upper]); horizontal_flip, vertical_flip (each with probability 1/2); fill_mode
    and cval for the points outside the image. Intensity: channel_shift_range (one uniform
    shift for all channels, clipped to the image's range); brightness_range (multiplies the
    image by a factor from [lower, upper]; Keras 2.2 went through an 8-bit PIL image, which
    also rescaled it to 0 .. 255).

    Normalisation (standardize, after the augmentation, in this order):
    preprocessing_function (one image in, one out), rescale (multiply), samplewise_center
    and samplewise_std_normalization (each image's own mean and std over its pixels and
    channels), featurewise_center and featurewise_std_normalization (the per-channel mean
    and std that fit(x) measures), zca_whitening (zca_epsilon). As in Keras, the std
    options switch their centering on, and zca_whitening switches featurewise_center on
    and featurewise_std_normalization off (with a warning).

    data_format: None or 'channels_last' (minicnn's only layout). validation_split: the
    fraction that flow(..., subset='validation') takes from the start of x.
    dtype: of the batches, backend.floatx() by default.
    """

    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0, width_shift_range=0.0,
                 height_shift_range=0.0, brightness_range=None, shear_range=0.0, zoom_range=0.0,
                 channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, dtype=None):
        who = "ImageDataGenerator"
        # every check first: a bad argument changes nothing
        backend.normalize_data_format(data_format, f"{who}: data_format")
        rotation_range = _non_negative(rotation_range, f"{who}: rotation_range", "20 (degrees)")
        shear_range = _non_negative(shear_range, f"{who}: shear_range", "10 (degrees)")
        channel_shift_range = _non_negative(channel_shift_range, f"{who}: channel_shift_range", "0.1")
        width_shift_range = _shift_range(width_shift_range, f"{who}: width_shift_range")
        height_shift_range = _shift_range(height_shift_range, f"{who}: height_shift_range")
        zoom_range = _zoom_range(zoom_range, who)
        brightness_range = _brightness_range(brightness_range, who)
        _check_fill_mode(fill_mode, who)
        if not is_number(cval):
            raise TypeError(f"{who}: cval must be a number (the fill value of fill_mode='constant'), "
                            f"got {cval!r}.")
        if rescale is not None and not is_number(rescale):
            raise TypeError(f"{who}: rescale must be a number such as 1. / 255 or None, got {rescale!r}.")
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise TypeError(f"{who}: preprocessing_function must be a function of one image, got "
                            f"{preprocessing_function!r}.")
        if not (is_number(validation_split) and 0 <= validation_split < 1):
            raise ValueError(f"{who}: validation_split must be a fraction in [0, 1) such as 0.1, "
                             f"got {validation_split!r}.")
        if not (is_number(zca_epsilon) and zca_epsilon > 0):
            raise ValueError(f"{who}: zca_epsilon must be a positive number, got {zca_epsilon!r}.")
        if dtype is not None and dtype not in ("float32", "float64", np.float32, np.float64):
            raise ValueError(f"{who}: dtype must be 'float32' or 'float64' (or None for "
                             f"backend.floatx()), got {dtype!r}.")
        self.featurewise_center = bool(featurewise_center)
        self.samplewise_center = bool(samplewise_center)
        self.featurewise_std_normalization = bool(featurewise_std_normalization)
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        self.zca_whitening = bool(zca_whitening)
        self.zca_epsilon = float(zca_epsilon)
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.brightness_range = brightness_range
        self.shear_range = shear_range
        self.zoom_range = zoom_range                  # [lower, upper]
        self.channel_shift_range = channel_shift_range
        self.fill_mode = fill_mode
        self.cval = float(cval)
        self.horizontal_flip = bool(horizontal_flip)
        self.vertical_flip = bool(vertical_flip)
        self.rescale = None if rescale is None else float(rescale)
        self.preprocessing_function = preprocessing_function
        self.data_format = "channels_last"
        self.validation_split = float(validation_split)
        self._dtype = None if dtype is None else str(np.dtype(dtype))
        self.mean = None                  # (1, 1, C) on the device, from fit()
        self.std = None
        self.principal_components = None
        self._implied_options(featurewise_center, samplewise_center)

    def _implied_options(self, featurewise_center, samplewise_center):
        """Keras' rules: the std options need centering, ZCA replaces the featurewise std."""
        if self.zca_whitening:
            if not featurewise_center:
                self.featurewise_center = True
                warnings.warn("ImageDataGenerator: zca_whitening switches featurewise_center on.")
            if self.featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn("ImageDataGenerator: zca_whitening switches "
                              "featurewise_std_normalization off.")
        if self.featurewise_std_normalization and not featurewise_center:
            self.featurewise_center = True
            warnings.warn("ImageDataGenerator: featurewise_std_normalization switches "
                          "featurewise_center on.")
        if self.samplewise_std_normalization and not samplewise_center:
            self.samplewise_center = True
            warnings.warn("ImageDataGenerator: samplewise_std_normalization switches "
                          "samplewise_center on.")

    @property
    def dtype(self):
        """The dtype of the batches: the one given, else backend.floatx() at the time of use."""
        return self._dtype or backend.floatx()

    # ---- batches -------------------------------------------------------------
    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None,
             save_to_dir=None, save_prefix="", save_format="png", subset=None):
        """An endless iterator of augmented batches ``(x, y)`` (``x`` alone without y;
        ``(x, y, sample_weight)`` with weights), reshuffled each epoch when ``shuffle``;
        ``len()`` of it is the number of batches per epoch. ``seed`` fixes the shuffling and
        the transforms; without it they come from backend.host_rng() (minicnn.seed)."""
        if save_to_dir is not None:
            raise ValueError("flow: save_to_dir is not supported (minicnn writes no image "
                             "files); take a batch with next(iterator) and draw it, e.g. "
                             "plt.imshow(batch[0][0, :, :, 0]).")
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle,
                                  sample_weight=sample_weight, seed=seed, subset=subset)

    def flow_from_directory(self, directory, *args, **kwargs):
        """Not supported: minicnn reads no image files (Keras used PIL)."""
        raise NotImplementedError(
            "flow_from_directory: minicnn reads no image files; load the images into one array "
            "(samples, height, width, channels), e.g. with PIL or imageio, then call flow(x, y).")

    def flow_from_dataframe(self, dataframe, *args, **kwargs):
        """Not supported: minicnn reads no image files (Keras used PIL)."""
        raise NotImplementedError(
            "flow_from_dataframe: minicnn reads no image files; load the images into one array "
            "(samples, height, width, channels), e.g. with PIL or imageio, then call flow(x, y).")

    # ---- random parameters -----------------------------------------------------
    def draw_transforms(self, n, image_shape, rng):
        """Random parameters for ``n`` images of shape (H, W, C), drawn from the NumPy
        Generator ``rng``: a dict of (N,) host arrays with apply_transform's keys."""
        height, width = int(image_shape[0]), int(image_shape[1])
        zeros = np.zeros(n)
        parameters = {
            "theta": (rng.uniform(-self.rotation_range, self.rotation_range, n)
                      if self.rotation_range else zeros),
            "tx": _draw_shift(self.height_shift_range, height, n, rng),
            "ty": _draw_shift(self.width_shift_range, width, n, rng),
            "shear": rng.uniform(-self.shear_range, self.shear_range, n) if self.shear_range else zeros,
        }
        lower, upper = self.zoom_range
        if lower == 1 and upper == 1:
            parameters["zx"] = parameters["zy"] = np.ones(n)
        else:
            parameters["zx"], parameters["zy"] = rng.uniform(lower, upper, (2, n))
        parameters["flip_horizontal"] = (rng.random(n) < 0.5 if self.horizontal_flip
                                         else np.zeros(n, dtype=bool))
        parameters["flip_vertical"] = (rng.random(n) < 0.5 if self.vertical_flip
                                       else np.zeros(n, dtype=bool))
        parameters["channel_shift_intensity"] = (
            rng.uniform(-self.channel_shift_range, self.channel_shift_range, n)
            if self.channel_shift_range else None)
        parameters["brightness"] = (rng.uniform(*self.brightness_range, n)
                                    if self.brightness_range is not None else None)
        return parameters

    def get_random_transform(self, img_shape, seed=None):
        """Random parameters for one image of shape ``img_shape`` (H, W, C), as Keras: a dict
        of Python numbers (None for an intensity change that is off)."""
        parameters = self.draw_transforms(1, img_shape, _generator(seed))
        return {key: None if value is None else value[0].item() for key, value in parameters.items()}

    # ---- transforms ---------------------------------------------------------------
    def apply_transform(self, x, transform_parameters):
        """One image (H, W, C) transformed by a dict of numbers, as Keras (keys as
        get_random_transform's; a missing key leaves that part alone); or a batch
        (N, H, W, C) by a dict of (N,) arrays or numbers. Returns an array of the backend;
        x itself is never changed."""
        images, single = self._batch_of(x, "apply_transform")
        parameters = _parameter_arrays(transform_parameters, images.shape[0], "apply_transform")
        out = transform_batch(images, parameters, self.fill_mode, self.cval)
        return out[0] if single else out

    def random_transform(self, x, seed=None):
        """One image (H, W, C), or each image of a batch (N, H, W, C), randomly transformed;
        ``seed`` makes the draw repeatable (else backend.host_rng() draws it)."""
        images, single = self._batch_of(x, "random_transform")
        parameters = self.draw_transforms(images.shape[0], images.shape[1:], _generator(seed))
        out = transform_batch(images, parameters, self.fill_mode, self.cval)
        return out[0] if single else out

    def standardize(self, x):
        """The normalisation steps (see the class docstring) on one image (H, W, C) or a batch
        (N, H, W, C). Returns an array of the backend; x itself is never changed (Keras 2.2
        changed it in place)."""
        xp = backend.xp()
        images, single = self._batch_of(x, "standardize")
        if self.preprocessing_function is not None:
            images = xp.stack([backend.to_device(self.preprocessing_function(images[i]), dtype=self.dtype)
                               for i in range(images.shape[0])])
        if self.rescale:
            images = images * self.rescale
        if self.samplewise_center:
            images = images - images.mean(axis=(1, 2, 3), keepdims=True)
        if self.samplewise_std_normalization:
            images = images / (images.std(axis=(1, 2, 3), keepdims=True) + _STD_FUZZ)
        if self.featurewise_center:
            if self._fitted(self.mean, "featurewise_center"):
                images = images - self.mean
        if self.featurewise_std_normalization:
            if self._fitted(self.std, "featurewise_std_normalization"):
                images = images / (self.std + _STD_FUZZ)
        if self.zca_whitening:
            if self._fitted(self.principal_components, "zca_whitening"):
                flat = images.reshape(images.shape[0], -1) @ self.principal_components
                images = flat.reshape(images.shape)
        return images[0] if single else images

    def _fitted(self, statistic, option):
        if statistic is None:
            warnings.warn(f"ImageDataGenerator: {option} is on but fit(x) has not been called, "
                          "so it is skipped; call datagen.fit(x_train) first.")
        return statistic is not None

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Measure the featurewise statistics on sample images x (N, H, W, C): the per-channel
        mean and std, and the ZCA matrix; ``augment``: on ``rounds`` randomly transformed
        copies of x instead (``seed`` fixes them)."""
        xp = backend.xp()
        rounds = positive_int(rounds, "fit: rounds")
        images = _device_images(x, 4, self.dtype, "fit")
        if augment:
            rng = _generator(seed)
            images = xp.concatenate([self._augment_in_chunks(images, rng) for _ in range(rounds)])
        channels = images.shape[3]
        if self.featurewise_center:
            self.mean = images.mean(axis=(0, 1, 2)).reshape(1, 1, channels)
            images = images - self.mean
        if self.featurewise_std_normalization:
            self.std = images.std(axis=(0, 1, 2)).reshape(1, 1, channels)
            images = images / (self.std + _STD_FUZZ)
        if self.zca_whitening:      # on the host: one SVD of the (D, D) covariance, D = H*W*C
            flat = backend.to_host(images).reshape(images.shape[0], -1)
            sigma = flat.T @ flat / flat.shape[0]
            u, s, _ = np.linalg.svd(sigma)
            whitening = (u / np.sqrt(s + self.zca_epsilon)) @ u.T
            self.principal_components = backend.to_device(whitening, dtype=self.dtype)

    def _augment_in_chunks(self, images, rng):
        """random transforms of all images, _CHUNK at a time (the sampler's arrays are (N, H, W, C))."""
        xp = backend.xp()
        parts = []
        for start in range(0, images.shape[0], _CHUNK):
            part = images[start:start + _CHUNK]
            parameters = self.draw_transforms(part.shape[0], part.shape[1:], rng)
            parts.append(transform_batch(part, parameters, self.fill_mode, self.cval))
        return xp.concatenate(parts)

    def _batch_of(self, x, who):
        """(images (N, H, W, C) on the device in self.dtype, whether x was one image)."""
        if not _is_array(x):
            x = np.asarray(x)
        if x.ndim not in (3, 4):
            raise ValueError(f"{who}: expected one image (height, width, channels) or a batch "
                             f"(samples, height, width, channels), got shape {tuple(x.shape)}.")
        images = _device_images(x, x.ndim, self.dtype, who)
        return (images[None], True) if x.ndim == 3 else (images, False)


class NumpyArrayIterator(Sequence):
    """The endless iterator that ImageDataGenerator.flow() returns: batches of augmented,
    standardized images from x (and the matching rows of y and sample_weight).

    Each epoch visits every sample once (in a new random order when ``shuffle``); its last
    batch holds what is left. ``len()`` is the number of batches per epoch; ``iterator[i]``
    is batch i of the current epoch's order (it is a minicnn.utils.Sequence, as Keras 2.2's
    iterator is a keras.utils.Sequence); ``on_epoch_end()`` reshuffles. x stays where it
    is given (host or device); each batch is moved to the device and transformed there.
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False,
                 sample_weight=None, seed=None, subset=None):
        who = "flow"
        if isinstance(x, (tuple, list)) and len(x) == 2 and hasattr(x[0], "shape"):
            raise TypeError(f"{who}: x as a tuple (images, other inputs) is not supported: minicnn "
                            "models take one input; pass the image array alone.")
        batch_size = positive_int(batch_size, f"{who}: batch_size")
        if seed is not None and not (is_count(seed) and seed >= 0):
            raise ValueError(f"{who}: seed must be an int >= 0 or None, got {seed!r}.")
        if not _is_array(x):
            x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"{who}: x must be images (samples, height, width, channels), got "
                             f"shape {tuple(x.shape)}; add a channels axis to grey images with "
                             "x[..., None].")
        _check_channels(x.shape, who)
        if y is not None:
            y = y if _is_array(y) else np.asarray(y)
            if len(y) != len(x):
                raise ValueError(f"{who}: x has {len(x)} samples but y has {len(y)}; they must match.")
        if sample_weight is not None:
            sample_weight = sample_weight if _is_array(sample_weight) else np.asarray(sample_weight)
            if len(sample_weight) != len(x):
                raise ValueError(f"{who}: x has {len(x)} samples but sample_weight has "
                                 f"{len(sample_weight)}; they must match.")
        if subset is not None:
            x, y, sample_weight = _subset(x, y, sample_weight, subset,
                                          image_data_generator.validation_split)
        if len(x) == 0:
            raise ValueError(f"{who}: x holds no samples.")
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.image_data_generator = image_data_generator
        self.n = len(x)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.batch_index = 0              # the next batch of the epoch
        self.total_batches_seen = 0
        self.index_array = None           # this epoch's order of the samples
        self._rng = _generator(seed if seed is not None else int(backend.host_rng().integers(2 ** 63)))

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self):                   # endless, unlike a plain Sequence's one pass
        return self

    def __next__(self):
        return self.next()

    def next(self):
        """The next batch; after an epoch's last batch the next epoch starts (reshuffled)."""
        if self.batch_index == 0:
            self._set_index_array()
        start = self.batch_index * self.batch_size
        index = self.index_array[start:start + self.batch_size]
        self.batch_index = self.batch_index + 1 if start + self.batch_size < self.n else 0
        self.total_batches_seen += 1
        return self._batch(index)

    def __getitem__(self, idx):
        if not (is_count(idx) and 0 <= idx < len(self)):
            raise IndexError(f"batch {idx!r} asked for, but an epoch has batches 0 .. {len(self) - 1}.")
        if self.index_array is None:
            self._set_index_array()
        self.total_batches_seen += 1
        return self._batch(self.index_array[idx * self.batch_size:(idx + 1) * self.batch_size])

    def on_epoch_end(self):
        """A new order of the samples (a Keras Sequence's hook)."""
        self._set_index_array()

    def reset(self):
        """Start the next batch at the beginning of an epoch."""
        self.batch_index = 0

    def _set_index_array(self):
        self.index_array = self._rng.permutation(self.n) if self.shuffle else np.arange(self.n)

    def _batch(self, index):
        """Samples ``index`` (host ints): the images transformed and standardized on the device."""
        generator = self.image_data_generator
        images = _take(self.x, index)
        images = backend.to_device(images, dtype=generator.dtype)
        parameters = generator.draw_transforms(len(index), images.shape[1:], self._rng)
        images = transform_batch(images, parameters, generator.fill_mode, generator.cval)
        images = generator.standardize(images)
        if self.y is None:
            return images
        batch = (images, _take(self.y, index))
        if self.sample_weight is not None:
            batch += (_take(self.sample_weight, index),)
        return batch


# ---- checks and small helpers -----------------------------------------------------------
def _is_array(a):
    return isinstance(a, (np.ndarray, backend.xp().ndarray))


def _take(a, index):
    """Rows ``index`` (a host int array) of a host or device array, where the array is."""
    return a[index] if isinstance(a, np.ndarray) else a[backend.to_device(index)]


def _generator(seed):
    """A NumPy Generator seeded with ``seed``; backend.host_rng() itself when seed is None."""
    if seed is None:
        return backend.host_rng()
    if not (is_count(seed) and seed >= 0):
        raise ValueError(f"seed must be an int >= 0 or None, got {seed!r}.")
    return np.random.default_rng(int(seed))


def _device_images(x, ndim, dtype, who):
    """x (host, device or a list) as a device array of ``dtype`` with ``ndim`` axes."""
    if not _is_array(x):
        x = np.asarray(x)
    if x.ndim != ndim:
        expected = "(height, width, channels)" if ndim == 3 else "(samples, height, width, channels)"
        raise ValueError(f"{who}: expected images {expected}, got shape {tuple(x.shape)}.")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{who}: images must hold numbers, got dtype {x.dtype}.")
    _check_channels(x.shape, who)
    return backend.to_device(x, dtype=dtype)


def _subset(x, y, sample_weight, subset, validation_split):
    """The part of (x, y, sample_weight) that flow(subset=...) takes: the first
    validation_split of the samples for 'validation', the rest for 'training' (as Keras)."""
    if subset not in ("training", "validation"):
        raise ValueError(f"flow: subset must be 'training', 'validation' or None, got {subset!r}.")
    if not validation_split:
        raise ValueError("flow: subset needs a validation fraction: ImageDataGenerator("
                         "validation_split=0.1), for example.")
    split = int(len(x) * validation_split)
    if y is not None:
        labels = backend.to_host(y)
        if not np.array_equal(np.unique(labels[:split]), np.unique(labels[split:])):
            raise ValueError("flow: the training and validation subsets hold different classes; "
                             "if x and y are sorted by label, shuffle them (together) first.")
    part = slice(0, split) if subset == "validation" else slice(split, None)
    return (x[part], None if y is None else y[part],
            None if sample_weight is None else sample_weight[part])


def _check_channels(shape, who):
    """Keras' warning when the last axis does not look like channels (1, 3 or 4)."""
    if shape[-1] not in (1, 3, 4):
        hint = (" If the data is channels-first, transpose it: x.transpose(0, 2, 3, 1)."
                if len(shape) == 4 and shape[1] in (1, 3, 4) else "")
        warnings.warn(f"{who}: images are channels-last (samples, height, width, channels) but "
                      f"the last axis of shape {tuple(shape)} has {shape[-1]} channels, not "
                      f"1, 3 or 4.{hint}")


def _check_fill_mode(fill_mode, who):
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{who}: fill_mode must be one of {', '.join(map(repr, FILL_MODES))}, "
                         f"got {fill_mode!r}.")


def _non_negative(value, what, example):
    if not (is_number(value) and np.isfinite(value) and value >= 0):
        raise ValueError(f"{what} must be a number >= 0 such as {example}, got {value!r}.")
    return value


def _shift_range(value, what):
    """A shift range as Keras takes it: a number >= 0, or a non-empty list of numbers (a tuple)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        values = tuple(np.asarray(value).ravel().tolist())
        if not values or not all(is_number(v) and np.isfinite(v) for v in values):
            raise ValueError(f"{what}: a list of shifts must hold numbers, got {value!r}.")
        return values
    return _non_negative(value, what, "0.1 (a tenth of the size) or 3 (pixels)")


def _draw_shift(spec, size, n, rng):
    """(N,) shifts in pixels for a shift range (see ImageDataGenerator) and an axis of ``size``."""
    if not spec:
        return np.zeros(n)
    if is_count(spec):                                 # -(spec-1) .. spec-1 pixels
        shifts = rng.integers(0, spec, n) * rng.choice([-1.0, 1.0], n)
    elif isinstance(spec, tuple):                      # one of the values, either sign
        shifts = rng.choice(np.asarray(spec, dtype=np.float64), n) * rng.choice([-1.0, 1.0], n)
    else:
        shifts = rng.uniform(-spec, spec, n)
    largest = max(spec) if isinstance(spec, tuple) else spec
    if largest < 1:
        shifts = shifts * size                         # fractions of the size
    return shifts


def _zoom_range(value, who):
    """[lower, upper] from a number z (-> [1 - z, 1 + z]) or a pair; both must be > 0."""
    if is_number(value):
        zoom = [1.0 - value, 1.0 + value]
    elif (isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2
          and all(map(is_number, value))):
        zoom = [float(value[0]), float(value[1])]
    else:
        raise ValueError(f"{who}: zoom_range must be a number such as 0.1 or a pair "
                         f"[lower, upper] such as [0.9, 1.1], got {value!r}.")
    if not (0 < zoom[0] <= zoom[1] and np.isfinite(zoom[1])):
        raise ValueError(f"{who}: zoom_range {value!r} gives zooms [{zoom[0]}, {zoom[1]}]; they "
                         "must be > 0 with lower <= upper (a number z must be in [0, 1)).")
    return zoom


def _brightness_range(value, who):
    if value is None:
        return None
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_number, value))
            and 0 <= value[0] <= value[1]):
        raise ValueError(f"{who}: brightness_range must be None or a pair [lower, upper] with "
                         f"0 <= lower <= upper, such as [0.8, 1.2], got {value!r}.")
    return (float(value[0]), float(value[1]))


def _parameter_arrays(parameters, n, who):
    """A transform's parameters as (N,) host arrays: every key of GEOMETRY_DEFAULTS (its
    default when missing) and of INTENSITY_KEYS (None when missing or None)."""
    if not isinstance(parameters, dict):
        raise TypeError(f"{who}: transform_parameters must be a dict such as "
                        f"{{'theta': 30, 'tx': 2}}, got {type(parameters).__name__}.")
    unknown = sorted(set(parameters) - set(GEOMETRY_DEFAULTS) - set(INTENSITY_KEYS))
    if unknown:
        raise ValueError(f"{who}: unknown transform parameters {unknown}; the keys are "
                         f"{sorted(GEOMETRY_DEFAULTS) + list(INTENSITY_KEYS)}.")
    arrays = {}
    for key in list(GEOMETRY_DEFAULTS) + list(INTENSITY_KEYS):
        value = parameters.get(key, GEOMETRY_DEFAULTS.get(key))
        if value is None:
            arrays[key] = None
            continue
        value = np.asarray(backend.to_host(value), dtype=bool if key.startswith("flip") else np.float64)
        if value.shape not in ((), (n,)):
            raise ValueError(f"{who}: {key} must be one number or {n} numbers (one per image), "
                             f"got shape {value.shape}.")
        arrays[key] = np.array(np.broadcast_to(value, (n,)))     # a contiguous copy
    return arrays


__all__ = ["FILL_MODES", "ImageDataGenerator", "NumpyArrayIterator", "affine_matrices",
           "apply_affine_transform", "channel_shift", "resample", "transform_batch"]

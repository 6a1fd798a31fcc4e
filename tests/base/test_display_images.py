"""Display images of large arrays (``appion.base.calc.internal.images``), plain row values
(``appion.base.calc.internal.plain``) and the image writers of ``appion.base.files``."""

from __future__ import annotations

import datetime
import decimal
import math

import imagecodecs
import numpy as np
import pytest

from appion.base.calc.internal import images
from appion.base.calc.internal.plain import plain_row, plain_value
from appion.base.errors import OutputError
from appion.base.files import write_bytes, write_jpeg, write_png


def test_block_average_averages_whole_blocks_and_drops_the_rest():
    image = np.arange(7 * 9, dtype=np.float32).reshape(7, 9)
    binned = images.block_average(image, 3)
    assert binned.shape == (2, 3) and binned.dtype == np.float32
    assert binned[0, 0] == pytest.approx(image[:3, :3].mean())
    assert binned[1, 2] == pytest.approx(image[3:6, 6:9].mean())
    np.testing.assert_array_equal(images.block_average(image, 1), image)
    with pytest.raises(ValueError):
        images.block_average(image, 8)
    with pytest.raises(ValueError):
        images.block_average(image[0], 2)


@pytest.mark.parametrize("shape,longest,expected", [
    ((4092, 5760), 1024, (727, 1024)), ((5760, 4092), 256, (256, 182)),
    ((4096, 4096), 1024, (1024, 1024)), ((720, 1024), 1024, (720, 1024)),
    ((720, 1024), 256, (180, 256)), ((100, 50), 1024, (100, 50))])
def test_scaled_images_have_the_longest_side_asked_and_keep_their_aspect(shape, longest,
                                                                         expected):
    assert images.output_shape(shape, longest) == expected
    scaled = images.scale_to_longest(np.ones(shape, dtype=np.float32), longest)
    assert scaled.shape == expected
    np.testing.assert_allclose(scaled, 1.0, rtol=1e-6)  # averages keep a constant
    assert images.output_shape((100, 50), 200, enlarge=True) == (200, 100)


def test_scaling_follows_the_content():
    # a linear ramp stays the same ramp, at the scaled pixel centres
    rows, cols = np.mgrid[0:1000, 0:1500].astype(np.float32)
    scaled = images.scale_to_longest(cols, 256)
    assert scaled.shape == (171, 256)
    centres = (np.arange(256) + 0.5) * (1500 / 256) - 0.5
    np.testing.assert_allclose(scaled[50], centres, atol=3.0)
    assert np.all(np.diff(scaled[0]) > 0)


def test_smooth_is_a_light_low_pass():
    constant = np.full((20, 30), 3.0, dtype=np.float32)
    np.testing.assert_allclose(images.smooth(constant), 3.0)
    noise = np.random.default_rng(0).standard_normal((200, 200)).astype(np.float32)
    smoothed = images.smooth(noise)
    assert smoothed.shape == noise.shape
    # the binomial 3x3 kernel keeps (6/16)^2 = 14 % of white noise's variance
    assert float(smoothed.var()) == pytest.approx(0.1406 * float(noise.var()), rel=0.1)
    assert float(smoothed.mean()) == pytest.approx(float(noise.mean()), abs=1e-3)


def test_stretch_puts_the_percentiles_at_black_and_white():
    image = np.random.default_rng(1).normal(100.0, 5.0, (400, 500)).astype(np.float32)
    image[0, 0] = 1e6  # a hot pixel does not set the range
    low, high = images.stretch_limits(image)
    assert low == pytest.approx(np.percentile(image, 0.5), rel=1e-4)
    assert high == pytest.approx(np.percentile(image, 99.5), rel=1e-4)
    grey = images.to_grey(image, low, high)
    assert grey.dtype == np.uint8
    assert np.mean(grey == 0) == pytest.approx(0.005, abs=0.002)
    assert np.mean(grey == 255) == pytest.approx(0.005, abs=0.002)
    assert 100 < np.median(grey) < 155
    mask = np.zeros(image.shape, dtype=bool)
    mask[:10] = True
    assert images.stretch_limits(image, mask=mask) == pytest.approx(
        tuple(np.percentile(image[:10], (0.5, 99.5))), rel=1e-4)
    assert np.all(images.to_grey(np.ones((3, 3)), 1.0, 1.0) == 128)  # constant: mid-grey


def test_display_images_are_made_largest_first_whatever_the_order_asked():
    image = np.random.default_rng(2).standard_normal((720, 1024)).astype(np.float32)
    thumbnail, preview = images.display_images(image, (256, 1024))
    assert thumbnail.shape == (180, 256) and preview.shape == (720, 1024)
    assert thumbnail.dtype == preview.dtype == np.uint8
    assert preview.min() == 0 and preview.max() == 255


def test_plain_values():
    assert plain_value(decimal.Decimal("1.5")) == 1.5
    assert plain_value(float("nan")) is None and plain_value(math.inf) is None
    assert plain_value(datetime.datetime(2025, 3, 3, 12, 0)) == "2025-03-03T12:00:00"
    assert plain_value(b"enn") == "enn" and plain_value(np.float32(2.0)) == 2.0
    assert plain_value(np.int64(3)) == 3 and isinstance(plain_value(np.int64(3)), int)
    assert plain_row({"id": 4, "def_timestamp": "x", "bin": 1, "align": True}) == {
        "align": True, "bin": 1}
    assert plain_row(None) == {}


def test_image_writers_write_valid_files_atomically(tmp_path):
    pixels = (np.arange(64 * 96) % 256).astype(np.uint8).reshape(64, 96)
    jpeg = write_jpeg(tmp_path / "a.thumb.jpg", pixels)
    png = write_png(tmp_path / "a.png", pixels[:, ::2])  # not contiguous: fine
    assert imagecodecs.jpeg8_decode(jpeg.read_bytes()).shape == (64, 96)
    np.testing.assert_array_equal(imagecodecs.png_decode(png.read_bytes()), pixels[:, ::2])
    assert write_bytes(tmp_path / "b.bin", b"abc").read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.thumb.jpg", "b.bin"]
    (tmp_path / "in-the-way.jpg").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        write_jpeg(tmp_path / "in-the-way.jpg", pixels)

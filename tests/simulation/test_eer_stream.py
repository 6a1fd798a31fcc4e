"""Every EER frame the simulator writes is one RELION accepts.

RELION's decoder (``EERRenderer::renderFrames``, 7-bit mode) reads a 7-bit skip,
adds it to the pixel count and stops only when the count equals the frame size,
checked right after each skip; a skip of 127 is followed by another skip, any other
by 4 sub-pixel bits (XOR 0b1010) and an electron at the count, which then moves one
on.  It never stops after an electron, so a frame whose last pixel holds an electron
needs a final skip 0.  The validator below follows those rules within the frame's
own bytes (RELION would read on into the next frame's) and also checks the end as
imagecodecs reads it (a code at bit ``b`` only while ``b < 8·size − 11``).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from appion.simulation import eer

SKIP_BITS, SYMBOL_BITS, SKIP_MAX = 7, 4, 127


def relion_decode(stream: bytes, npixels: int) -> tuple[list[int], list[int], int]:
    """Positions and symbols as RELION decodes them, and the bit where it stopped."""
    bits, size = int.from_bytes(stream, "little"), 8 * len(stream)
    at = count = 0
    positions: list[int] = []
    symbols: list[int] = []
    while True:
        assert at + SKIP_BITS <= size, f"no code brings the count to {npixels} ({count})"
        skip = (bits >> at) & SKIP_MAX
        at += SKIP_BITS
        count += skip
        if count == npixels:
            return positions, symbols, at
        assert count < npixels, f"the count passes the frame's end ({count} > {npixels})"
        if skip == SKIP_MAX:
            continue
        assert at + SYMBOL_BITS <= size, "an electron's sub-pixel bits are cut off"
        symbols.append(((bits >> at) & 15) ^ 0b1010)
        at += SYMBOL_BITS
        positions.append(count)
        count += 1


def check_frame(stream: bytes, frame: eer.EerFrame, npixels: int) -> int:
    """Assert ``stream`` is a valid frame holding exactly ``frame``; return its code bits."""
    positions, symbols, stop = relion_decode(stream, npixels)
    assert positions == list(frame.positions)
    assert symbols == list(np.asarray(frame.sub_x) | (np.asarray(frame.sub_y) << 2))
    size = 8 * len(stream)
    assert len(stream) % 2 == 0, "whole 16-bit words"
    assert int.from_bytes(stream, "little") >> stop == 0, "only zero padding after the end"
    assert stop - SKIP_BITS < size - 11, "imagecodecs reads the last code too"
    assert size - stop < 16 + 5, "no padding word beyond the one needed"
    return stop


def _frame(positions, seed: int = 0) -> eer.EerFrame:
    positions = np.unique(np.asarray(positions, dtype=np.int64))
    rng = np.random.default_rng(seed)
    return eer.EerFrame(positions, rng.integers(0, 4, positions.size),
                        rng.integers(0, 4, positions.size))


def _cases():
    n = 64 * 64
    yield "empty", 4096, []
    yield "empty, size a multiple of 127", 127 * 8 * 3, []
    yield "first pixel", n, [0]
    yield "last pixel", n, [n - 1]
    yield "first and last", n, [0, n - 1]
    yield "every pixel", 300, range(300)
    yield "run of exactly 127", n, [127, n - 1]
    yield "run of 128", n, [128]
    yield "runs over 255", n, [300, 300 + 256, 300 + 256 + 255, 2000]
    yield "run of 127·8 (one merged chunk)", n, [127 * 8, 127 * 8 * 2 + 1]
    yield "last electron 127 before the end", n, [5, n - 1 - 127]
    yield "last electron 127·8 before the end", n, [5, n - 1 - 127 * 8]
    yield "last electron 127·8+3 before the end", n, [n - 1 - 127 * 8 - 3]
    yield "one-pixel frame, hit", 1, [0]
    yield "one-pixel frame, empty", 1, []


@pytest.mark.parametrize("name,npixels,positions", list(_cases()),
                         ids=[case[0] for case in _cases()])
def test_edge_frames_are_valid(name, npixels, positions):
    frame = _frame(positions)
    stream = eer.encode_frame(frame, npixels)
    check_frame(stream, frame, npixels)


def test_an_electron_in_the_last_pixel_gets_a_closing_code():
    frame = _frame([3, 7])
    stream = eer.encode_frame(frame, 8)
    stop = check_frame(stream, frame, 8)
    closing = (int.from_bytes(stream, "little") >> (stop - SKIP_BITS)) & SKIP_MAX
    assert closing == 0 and stop == 2 * (SKIP_BITS + SYMBOL_BITS) + SKIP_BITS


def test_every_word_alignment_of_the_end_is_valid():
    """Random frames with the last pixel hit, until the end fell on each bit of a word."""
    rng = np.random.default_rng(7)
    shape = (48, 80)
    npixels = shape[0] * shape[1]
    ends: set[int] = set()
    for count in range(1, 200):
        positions = np.append(rng.choice(npixels - 1, count % 60, replace=False), npixels - 1)
        frame = _frame(positions, seed=count)
        ends.add(check_frame(eer.encode_frame(frame, npixels), frame, npixels) % 16)
    assert ends == set(range(16))


def test_imagecodecs_reads_the_same_electrons():
    imagecodecs = pytest.importorskip("imagecodecs")
    shape = (16, 32)
    for positions in ([], [0], [511], [0, 200, 511], range(512)):
        frame = _frame(positions)
        stream = eer.encode_frame(frame, shape[0] * shape[1])
        image = imagecodecs.eer_decode(stream, shape, SKIP_BITS, 2, 2)
        assert int(image.sum()) == frame.positions.size
        assert list(np.flatnonzero(image)) == list(frame.positions)


def test_every_strip_of_a_written_movie_is_valid(tmp_path):
    """The file as RELION reads it: each page's raw strip, decoded on its own."""
    rng = np.random.default_rng(3)
    shape = (32, 48)
    npixels = shape[0] * shape[1]
    frames = [_frame(np.append(rng.choice(npixels, 40, replace=False), last), seed=i)
              for i, last in enumerate([npixels - 1, 0, npixels - 1, npixels - 2] * 4)]
    path = tmp_path / "movie.eer"
    eer.write_eer(path, frames, shape=shape, metadata={"exposureTime": 1.0})
    with open(path, "rb") as raw, tifffile.TiffFile(path) as tiff:
        assert tiff.is_eer and len(tiff.pages) == len(frames)
        for page, frame in zip(tiff.pages, frames):
            assert page.compression == eer.COMPRESSION and len(page.dataoffsets) == 1
            raw.seek(page.dataoffsets[0])
            check_frame(raw.read(page.databytecounts[0]), frame, npixels)
            assert int(page.asarray().sum()) == frame.positions.size

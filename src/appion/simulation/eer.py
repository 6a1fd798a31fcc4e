"""A writer for Thermo Fisher's EER (Electron Event Representation) movies.

An EER file is a BigTIFF with one page per raw frame, compressed with
compression 65001 ("EER 7-bit", tifffile's name ``EER_V1``): each frame's
electrons, in raster order, are a little-endian bit stream of codes

* ``rle`` (7 bits): the number of pixels skipped since the previous electron;
  the value 127 means "skip 127 pixels, no electron yet, read another code";
* otherwise 4 sub-pixel bits follow: bits 0–1 the horizontal and bits 2–3 the
  vertical quarter-pixel position, each XOR 2 (so 0 means the pixel centre),
  and the electron occupies pixel ``previous + 1 + rle``.

The stream must end with a code that brings the position exactly to the end of
the frame: RELION's decoder (``EERRenderer::renderFrames``) adds each code to the
pixel count and stops only when the count *equals* the frame size, checked right
after adding; it never stops after an electron.  So the stream ends with the skip
codes up to the end, and when the last electron is in the frame's last pixel, with a
code 0 (7 zero bits).  Without it, RELION reads on into the next frame's bits, and
rejects the frame ("The number of pixels is not right").  The stream is padded with
zero bits to whole 16-bit words, at least :data:`MIN_PADDING_BITS` of them, so that
``imagecodecs.eer_decode`` (which reads a code only while ``bit < size − 11``) also
reads that last code and stops there rather than at the end of its data.  The
first page carries the acquisition metadata XML in tag 65001, which is how
tifffile recognises an EER file (``TiffFile.is_eer``).  A raw frame can hold
at most one electron per pixel, like the detector.

``imagecodecs.eer_encode`` exists but is not implemented, hence this module.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

COMPRESSION = 65001   # EER_V1: 7-bit run lengths, 2 + 2 sub-pixel bits
RLE_BITS = 7
SUBPIXEL_BITS = 2     # per axis
#: Zero bits after the last code: imagecodecs reads a code at bit ``b`` only while
#: ``b < 8·size − 11``, i.e. with 11 − 7 + 1 = 5 bits after a final 7-bit code.
MIN_PADDING_BITS = 5
METADATA_TAG = 65001  # acquisition metadata (XML, TIFF type UNDEFINED)


@dataclass(frozen=True)
class EerFrame:
    """The electrons of one raw frame: raster positions and sub-pixel quarters."""

    positions: np.ndarray  # sorted unique integer raster indices (y * nx + x)
    sub_x: np.ndarray      # 0..3, quarter-pixel column position
    sub_y: np.ndarray      # 0..3, quarter-pixel row position


def frame_from_coordinates(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]
                           ) -> EerFrame:
    """Electrons at continuous positions ``x, y`` (pixels) -> an :class:`EerFrame`.

    Electrons outside the frame are lost, and a second electron in a pixel
    already hit in this frame is lost too (one event per pixel per raw frame).
    """
    ny, nx = shape
    quarter_x = np.floor(np.asarray(x) * 4.0).astype(np.int64)
    quarter_y = np.floor(np.asarray(y) * 4.0).astype(np.int64)
    inside = (quarter_x >= 0) & (quarter_x < nx * 4) & (quarter_y >= 0) & (quarter_y < ny * 4)
    quarter_x, quarter_y = quarter_x[inside], quarter_y[inside]
    positions = (quarter_y >> 2) * nx + (quarter_x >> 2)
    positions, first = np.unique(positions, return_index=True)
    return EerFrame(positions, quarter_x[first] & 3, quarter_y[first] & 3)


#: Skip codes merged into one word-packed code (8 × 7 = 56 bits; with an electron ≤ 60).
_SKIPS_PER_CHUNK = 8


def encode_frame(frame: EerFrame, npixels: int) -> bytes:
    """The compressed bit stream of one raw frame.

    Runs of skip codes are all ones, so up to :data:`_SKIPS_PER_CHUNK` of them are
    merged into the code that follows (codes of at most 63 bits pack into 64-bit words).
    """
    skip = (1 << RLE_BITS) - 1
    positions = np.asarray(frame.positions, dtype=np.int64)
    gaps = np.diff(positions, prepend=-1) - 1
    if gaps.size and gaps.min() < 0:
        raise ValueError("EER positions must be sorted and unique")
    skips, rest = np.divmod(gaps, skip)
    chunks, merged = np.divmod(skips, _SKIPS_PER_CHUNK)
    symbol = ((np.asarray(frame.sub_x, dtype=np.uint64) ^ 2)
              | ((np.asarray(frame.sub_y, dtype=np.uint64) ^ 2) << SUBPIXEL_BITS))
    electron = rest.astype(np.uint64) | (symbol << RLE_BITS)
    electron_bits = RLE_BITS * merged
    electron = (electron << electron_bits.astype(np.uint64)) | _ones(electron_bits)
    electron_bits += RLE_BITS + 2 * SUBPIXEL_BITS

    end = int(positions[-1]) + 1 if positions.size else 0
    tail_skips, tail_rest = divmod(npixels - end, skip)
    tail_chunks, tail_merged = divmod(tail_skips, _SKIPS_PER_CHUNK)
    # The last code must land exactly on the end: a skip of 127 that does needs nothing
    # after it; otherwise a code of the rest, 0 when the last pixel holds an electron.
    closing = tail_rest > 0 or tail_skips == 0
    tail_bits = RLE_BITS * tail_merged + (RLE_BITS if closing else 0)
    tail = (tail_rest << (RLE_BITS * tail_merged)) | ((1 << (RLE_BITS * tail_merged)) - 1)

    codes_per_event = chunks + 1
    total = int(codes_per_event.sum()) + tail_chunks + (1 if tail_bits else 0)
    values = np.full(total, (1 << (RLE_BITS * _SKIPS_PER_CHUNK)) - 1, dtype=np.uint64)
    lengths = np.full(total, RLE_BITS * _SKIPS_PER_CHUNK, dtype=np.int64)
    slots = np.cumsum(codes_per_event) - 1
    values[slots] = electron
    lengths[slots] = electron_bits
    if tail_bits:
        values[-1] = tail  # ends the frame exactly; the decoder stops there
        lengths[-1] = tail_bits
    return _pack_bits(values, lengths)


def _ones(bits: np.ndarray) -> np.ndarray:
    """``2**bits − 1`` as uint64 (``bits`` < 64)."""
    return (np.uint64(1) << bits.astype(np.uint64)) - np.uint64(1)


def _pack_bits(values: np.ndarray, lengths: np.ndarray) -> bytes:
    """Concatenate codes of at most 63 bits, least significant bit first, into 16-bit words
    (zero-padded by at least :data:`MIN_PADDING_BITS`).

    Codes never share a bit, so each 64-bit word is the OR of the codes starting in
    it, plus the high part of a code that started in the word before.
    """
    starts = np.cumsum(lengths) - lengths
    nbits = int(starts[-1] + lengths[-1]) if lengths.size else 0
    padded = -(-(nbits + MIN_PADDING_BITS) // 16) * 16
    words = np.zeros(padded // 64 + 2, dtype=np.uint64)
    if lengths.size:
        word = starts >> 6
        offset = (starts & 63).astype(np.uint64)
        firsts = np.flatnonzero(np.diff(word, prepend=-1))
        words[word[firsts]] = np.bitwise_or.reduceat(values << offset, firsts)
        straddle = np.flatnonzero(offset + lengths.astype(np.uint64) > 64)
        words[word[straddle] + 1] |= values[straddle] >> (np.uint64(64) - offset[straddle])
    return words.astype("<u8").tobytes()[:padded // 8]


def metadata_xml(items: dict[str, object]) -> bytes:
    """EER acquisition metadata: ``<metadata><item name="…">value</item>…</metadata>``."""
    body = "".join(f'<item name="{escape(str(name))}">{escape(str(value))}</item>'
                   for name, value in items.items())
    return f"<metadata>{body}</metadata>".encode()


def write_eer(path: Path, frames: Iterable[EerFrame], *, shape: tuple[int, int],
              metadata: dict[str, object]) -> int:
    """Write raw frames to an EER file, streaming one page at a time; return the frame count.

    A small BigTIFF writer of its own: tifffile cannot write EER-compressed pages.
    Each page is one strip (the whole frame) followed by its IFD.
    """
    ny, nx = shape
    xml = metadata_xml(metadata)
    count = 0
    with open(path, "wb") as stream:
        stream.write(b"II" + struct.pack("<HHHQ", 43, 8, 0, 0))
        link = 8  # where the offset of the next IFD goes
        for frame in frames:
            strip = encode_frame(frame, ny * nx)
            strip_offset = _tell_aligned(stream)
            stream.write(strip)
            extra = xml if count == 0 else b""
            extra_offset = _tell_aligned(stream)
            stream.write(extra)
            ifd_offset = _tell_aligned(stream)
            stream.write(_ifd(nx, ny, strip_offset, len(strip), extra_offset, extra))
            stream.seek(link)
            stream.write(struct.pack("<Q", ifd_offset))
            stream.seek(0, 2)
            link = ifd_offset + 8 + 20 * _ifd_entries(extra)
            count += 1
    return count


_SHORT, _LONG, _UNDEFINED, _LONG8 = 3, 4, 7, 16


def _tell_aligned(stream) -> int:
    """Pad to an even offset (TIFF word alignment) and return the position."""
    position = stream.tell()
    if position % 2:
        stream.write(b"\0")
        position += 1
    return position


def _ifd_entries(extra: bytes) -> int:
    return 9 + (1 if extra else 0)


def _ifd(nx: int, ny: int, strip_offset: int, strip_size: int, extra_offset: int,
         extra: bytes) -> bytes:
    """One BigTIFF image file directory (entries sorted by tag), next-IFD offset 0."""
    entries = [
        (256, _LONG, 1, struct.pack("<I", nx)),                 # ImageWidth
        (257, _LONG, 1, struct.pack("<I", ny)),                 # ImageLength
        (258, _SHORT, 1, struct.pack("<H", 8)),                 # BitsPerSample
        (259, _SHORT, 1, struct.pack("<H", COMPRESSION)),       # Compression
        (262, _SHORT, 1, struct.pack("<H", 1)),                 # Photometric: min-is-black
        (273, _LONG8, 1, struct.pack("<Q", strip_offset)),      # StripOffsets
        (277, _SHORT, 1, struct.pack("<H", 1)),                 # SamplesPerPixel
        (278, _LONG, 1, struct.pack("<I", ny)),                 # RowsPerStrip
        (279, _LONG8, 1, struct.pack("<Q", strip_size)),        # StripByteCounts
    ]
    if extra:
        entries.append((METADATA_TAG, _UNDEFINED, len(extra),
                        extra if len(extra) <= 8 else struct.pack("<Q", extra_offset)))
    body = b"".join(struct.pack("<HHQ", tag, kind, number) + value.ljust(8, b"\0")
                    for tag, kind, number, value in entries)
    return struct.pack("<Q", len(entries)) + body + struct.pack("<Q", 0)

"""Reading a big PNG a strip of rows at a time, so decoding it never holds the whole image in memory.

Pillow decodes a PNG into one image of the full size (4 bytes a pixel for RGB: 196 MB for 49 MP) before
anything can shrink it. Here the IDAT stream is inflated a strip of rows at a time and each strip is
deflated again without compression (stored blocks) for Pillow's own PNG row decoder, so the filters and
pixel formats are still Pillow's code. PNG filters refer to the row above, so each strip starts with one
extra row: the previous strip's last row, already unfiltered, with filter type 0. For 8-bit PNGs that row
is packed back from the decoded strip; for other depths the strip is decoded as a "byte view" first (an
8-bit mode with the same bytes per pixel, ``view_mode``), whose pixels are the raw bytes.

No Pillow here: this module only moves bytes. ``server/photos.py`` decodes the strips.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_VIEW_MODE = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # bytes per pixel -> an 8-bit mode with that many


class NotStreamable(Exception):
    """This PNG cannot be read in strips (interlaced, 16-bit colour, or not a plain PNG): decode it whole."""


class Truncated(Exception):
    """The pixel data ends early or does not inflate."""


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlaced: bool

    @property
    def row_bytes(self) -> int:
        return (self.width * _CHANNELS[self.colour_type] * self.bit_depth + 7) // 8

    @property
    def bytes_per_pixel(self) -> int:
        """The filters' unit: whole bytes per pixel, at least 1 (PNG spec, 9.2)."""
        return max(1, _CHANNELS[self.colour_type] * self.bit_depth // 8)


@dataclass(frozen=True)
class Layout:
    header: Header
    idat: list[tuple[int, int]]  # (offset, length) of each IDAT chunk's data
    exif: bytes | None  # the eXIf chunk, wherever it is (Pillow reads a late one only by decoding the image)


def layout(data: bytes) -> Layout:
    """Where the parts are. Raises NotStreamable for what only a whole decode can read."""
    if not data.startswith(SIGNATURE):
        raise NotStreamable("not a PNG")
    pos, header, idat, exif = len(SIGNATURE), None, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end + 4 > len(data):
            break  # a truncated chunk: the inflated data will come up short
        if kind == b"IHDR" and length == 13:
            w, h, depth, ct, _comp, _filt, interlace = struct.unpack(">IIBBBBB", data[start:end])
            header = Header(w, h, depth, ct, interlace != 0)
        elif kind == b"IDAT":
            idat.append((start, length))
        elif kind == b"eXIf":
            exif = data[start:end]
        elif kind == b"IEND":
            break
        pos = end + 4
    if header is None or header.colour_type not in _CHANNELS or not idat:
        raise NotStreamable("no usable header")
    if header.interlaced or header.bytes_per_pixel not in _VIEW_MODE:
        raise NotStreamable("interlaced or 16-bit colour")
    return Layout(header, idat, exif)


@dataclass
class Strip:
    y: int  # first row of the image in this strip
    rows: int  # rows of the image in it; the decoded strip has one more on top, the carried row
    zdata: bytes  # a zlib stream of rows + 1 filtered rows, for Pillow's "zip" (PNG) decoder
    last_row: bytes | None = None  # the caller sets the raw bytes of the strip's last row before the next


def view_mode(header: Header) -> str:
    """The 8-bit mode whose pixels are exactly this PNG's raw bytes, with the same bytes per pixel."""
    return _VIEW_MODE[header.bytes_per_pixel]


def strips(data: bytes, lay: Layout, rows: int) -> Iterator[Strip]:
    """The image `rows` rows at a time. The caller decodes each strip and sets its `last_row` (unfiltered,
    as the PNG stores it) before asking for the next one: the next strip's filters refer to it."""
    h = lay.header
    inflater = zlib.decompressobj()
    pending = _idat_stream(data, lay.idat)
    previous = bytes(h.row_bytes)  # the row above the first one is zeros (PNG spec, 9.2)
    y = 0
    while y < h.height:
        n = min(rows, h.height - y)
        need = n * (1 + h.row_bytes)
        deflater = zlib.compressobj(0)  # stored blocks: a copy and a checksum, no compression work
        out = [deflater.compress(b"\x00" + previous)]  # filter type 0: the carried row as it is
        while need:
            chunk = inflater.unconsumed_tail or next(pending, None)
            if chunk is None or inflater.eof:
                raise Truncated(f"pixel data ends in the strip at row {y} of {h.height}")
            try:
                piece = inflater.decompress(chunk, need)
            except zlib.error as e:
                raise Truncated(str(e)) from e
            need -= len(piece)
            out.append(deflater.compress(piece))
        out.append(deflater.flush())
        strip = Strip(y, n, b"".join(out))
        yield strip
        if strip.last_row is None or len(strip.last_row) != h.row_bytes:
            raise ValueError("each strip's last_row must be set to its raw bytes before the next strip")
        previous = strip.last_row
        y += n


def _idat_stream(data: bytes, chunks: list[tuple[int, int]]) -> Iterator[bytes]:
    view = memoryview(data)
    for start, length in chunks:
        for i in range(start, start + length, 1 << 20):  # at most 1 MB at a time into the inflater
            yield view[i : min(start + length, i + (1 << 20))]

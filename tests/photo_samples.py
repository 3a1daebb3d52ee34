"""Test photos made in code: good ones in every accepted format, and each kind of bad upload.

Shared by tests/test_photos.py and bench/photos.py. Colours are pure so they survive JPEG compression:
a RED block marks the *upright* top-left corner and a GREEN block the upright top-right corner.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

from PIL import ExifTags, Image, ImageCms, ImageDraw, ImageFilter
from PIL.TiffImagePlugin import IFDRational
from pillow_heif import register_heif_opener

register_heif_opener()

RED = (255, 0, 0)
GREEN = (0, 200, 0)
PITTSBURGH = (40.446195, -79.982195)  # what stack.md's exiftool check read back: 40°26'46.30"N 79°58'55.90"W
TAKEN = "2026:11:20 09:15:00"

# For each EXIF orientation, the transposition that turns the upright picture into the stored pixels
# (the inverse of what a viewer applies). 6 = "rotate 90 CW to display", so it is stored rotated 90 CCW.
_STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def upright_picture(width: int, height: int, *, realistic: bool = False) -> Image.Image:
    """The picture as the user should see it: gradients, RED block top-left, GREEN block top-right."""
    r = Image.linear_gradient("L").resize((width, height))
    g = Image.radial_gradient("L").resize((width, height))
    im = Image.merge("RGB", (r, g, r.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    d = ImageDraw.Draw(im)
    if realistic:  # stack.md's phone-like content: shapes, blur and sensor noise, ~4 MB at 12 MP
        for i in range(60):
            x, y = (i * 977) % width, (i * 613) % height
            d.ellipse([x, y, x + 300, y + 200], fill=((i * 40) % 256, (i * 90) % 256, (i * 150) % 256))
        im = im.filter(ImageFilter.GaussianBlur(2))
        im = Image.blend(im, Image.effect_noise((width, height), 40).convert("RGB"), 0.18)
        d = ImageDraw.Draw(im)
    block = max(8, min(width, height) // 5)
    d.rectangle([0, 0, block, block], fill=RED)
    d.rectangle([width - 1 - block, 0, width - 1, block], fill=GREEN)
    return im


def _dms(deg: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    deg = abs(deg)
    d = int(deg)
    m = int((deg - d) * 60)
    s = (deg - d - m / 60) * 3600
    return IFDRational(d, 1), IFDRational(m, 1), IFDRational(round(s * 1000), 1000)


def phone_exif(
    *,
    orientation: int = 1,
    gps: tuple[float, float] | None = PITTSBURGH,
    taken: str | None = TAKEN,
    date_time: str | None = TAKEN,
) -> Image.Exif:
    """EXIF the way a phone writes it: make/model, orientation, capture time, GPS with altitude."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Model] = "iPhone 13"
    exif[ExifTags.Base.Orientation] = orientation
    if date_time:
        exif[ExifTags.Base.DateTime] = date_time
    if taken:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken  # get_ifd: a live dict
    if gps:
        lat, lon = gps
        ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        ifd[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        ifd[ExifTags.GPS.GPSLatitude] = _dms(lat)
        ifd[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        ifd[ExifTags.GPS.GPSLongitude] = _dms(lon)
        ifd[ExifTags.GPS.GPSAltitudeRef] = b"\x00"
        ifd[ExifTags.GPS.GPSAltitude] = IFDRational(2505, 10)
    return exif


def phone_jpeg(
    width: int = 2400,
    height: int = 3200,
    *,
    orientation: int = 6,
    realistic: bool = False,
    quality: int = 90,
    icc: bytes | None = None,
    **exif_kwargs,
) -> bytes:
    """A JPEG whose *upright* picture is width x height (default: portrait, a phone held upright). With
    orientation 6 (the default) the stored pixels are height x width, rotated, as a phone stores them."""
    stored = upright_picture(width, height, realistic=realistic)
    if _STORE[orientation] is not None:
        stored = stored.transpose(_STORE[orientation])
    buf = io.BytesIO()
    exif = phone_exif(orientation=orientation, **exif_kwargs)
    stored.save(buf, "JPEG", quality=quality, exif=exif, **({"icc_profile": icc} if icc else {}))
    return buf.getvalue()


def twelve_mp_phone_jpeg() -> bytes:
    """stack.md's benchmark input: 4032x3024 stored, orientation 6, GPS, photo-like content (~4 MB)."""
    return phone_jpeg(3024, 4032, orientation=6, realistic=True, quality=92)


def png(width: int = 800, height: int = 600, *, mode: str = "RGB") -> bytes:
    im = upright_picture(width, height)
    if mode == "RGBA":  # transparent everywhere except the marker blocks
        alpha = Image.new("L", im.size, 0)
        block = max(8, min(width, height) // 5)
        ImageDraw.Draw(alpha).rectangle([0, 0, block, block], fill=255)
        ImageDraw.Draw(alpha).rectangle([width - 1 - block, 0, width - 1, block], fill=255)
        im.putalpha(alpha)
    elif mode == "I;16":  # 16-bit grey, e.g. from a scanner
        im = Image.linear_gradient("L").resize((width, height)).point(lambda v: v * 256, "I").convert("I;16")
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=phone_exif())
    return buf.getvalue()


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_COLOUR_TYPE = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}


def png_written(im: Image.Image, *, sixteen_bits: bool = False, interlaced: bool = False) -> bytes:
    """A PNG that Pillow cannot write itself: 16 bits a sample (each 8-bit sample repeated) and/or Adam7
    interlacing. Filter type 0 on every row; L, LA, RGB or RGBA."""
    bpp = len(im.getbands()) * (2 if sixteen_bits else 1)
    data = im.tobytes()
    rows = [
        data[y * im.width * len(im.getbands()) : (y + 1) * im.width * len(im.getbands())]
        for y in range(im.height)
    ]
    if sixteen_bits:
        rows = [_doubled(r) for r in rows]
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    out = zlib.compressobj(1)
    idat = []
    for x0, y0, dx, dy in passes:
        if x0 >= im.width:
            continue
        for row in rows[y0::dy]:
            picked = bytearray(len(range(x0, im.width, dx)) * bpp)
            for c in range(bpp):
                picked[c::bpp] = row[x0 * bpp + c :: dx * bpp]
            idat.append(out.compress(b"\x00" + bytes(picked)))
    idat.append(out.flush())
    ihdr = struct.pack(
        ">IIBBBBB",
        im.width,
        im.height,
        16 if sixteen_bits else 8,
        _COLOUR_TYPE[im.mode],
        0,
        0,
        int(interlaced),
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(idat))
        + _png_chunk(b"IEND", b"")
    )


def _doubled(row: bytes) -> bytes:
    out = bytearray(len(row) * 2)
    out[0::2] = row
    out[1::2] = row
    return bytes(out)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def webp(width: int = 800, height: int = 600) -> bytes:
    buf = io.BytesIO()
    upright_picture(width, height).save(buf, "WEBP", quality=90, exif=phone_exif())
    return buf.getvalue()


def heic(width: int = 400, height: int = 300, *, gps: tuple[float, float] | None = PITTSBURGH) -> bytes:
    """A small HEIC as an iPhone sends it (brand ftypheic), with GPS in its EXIF."""
    buf = io.BytesIO()
    upright_picture(width, height).save(buf, "HEIF", quality=90, exif=phone_exif(gps=gps))
    return buf.getvalue()


def gif(width: int = 200, height: int = 150) -> bytes:
    buf = io.BytesIO()
    upright_picture(width, height).save(buf, "GIF")
    return buf.getvalue()


def encoded(fmt: str, width: int = 400, height: int = 300, *, mode: str = "RGB", **params) -> bytes:
    """The upright picture in any format Pillow writes (AVIF, BMP, TIFF, MPO...), e.g. to be refused."""
    buf = io.BytesIO()
    upright_picture(width, height).convert(mode).save(buf, fmt, **params)
    return buf.getvalue()


def mpo() -> bytes:
    """A JPEG with a second picture after it (as phones add depth maps), which Pillow reports as "MPO"."""
    return encoded("MPO", save_all=True, append_images=[Image.new("RGB", (90, 60))])


def truncated(data: bytes) -> bytes:
    """The first half of a file, like an upload cut off by a dropped connection."""
    return data[: len(data) // 2]


def truncated_jpeg() -> bytes:
    return truncated(phone_jpeg(800, 600))


def png_with_broken_header() -> bytes:
    """A PNG signature followed by an IHDR chunk whose checksum is wrong."""
    data = png(200, 150)
    return data[:29] + b"\x00\x00\x00\x00" + data[33:]


def text_file() -> bytes:
    return b"Pothole on Main Street, please fix.\n" * 20


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb as seen by Image.open."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@functools.cache
def swapped_primaries_icc() -> bytes:
    """An RGB ICC profile that is not sRGB: littlecms's sRGB with the red and green primaries swapped and
    renamed. Pixels tagged with it that read (255, 0, 0) are pure *green* once converted to sRGB, which
    makes colour management visible in a test (no Display P3 profile ships on this machine)."""
    b = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", b[128:132])
    entries = {bytes(b[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}  # tag table
    r, g = entries[b"rXYZ"], entries[b"gXYZ"]
    b[r + 4 : r + 12], b[g + 4 : g + 12] = b[g + 4 : g + 12], b[r + 4 : r + 12]  # swap (offset, size)
    return bytes(b).replace("sRGB".encode("utf-16-be"), "Test".encode("utf-16-be"))

"""server/photos.py: what a resident's photo turns into, and which uploads are refused."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime

import pytest
from PIL import Image

from server import photos
from server.photos import PhotoRejected, media_path, naive_pipeline, process_photo, read_gps
from tests import photo_samples as samples


def _image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im


def _colour_at(rendition: photos.Rendition, fx: float, fy: float) -> tuple[int, int, int]:
    """Colour at a fraction of the rendition's width and height."""
    im = _image(rendition.data).convert("RGB")
    return im.getpixel((int(fx * (im.width - 1)), int(fy * (im.height - 1))))


def _is(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def _assert_upright(rendition: photos.Rendition) -> None:
    assert _is(_colour_at(rendition, 0.05, 0.05), samples.RED), "red marker should be top-left"
    assert _is(_colour_at(rendition, 0.95, 0.05), samples.GREEN), "green marker should be top-right"
    assert not _is(_colour_at(rendition, 0.05, 0.95), samples.RED)


# -- a phone photo --------------------------------------------------------------------------------------


def test_portrait_phone_photo_is_rotated_so_the_stored_top_left_ends_up_top_right():
    # a portrait shot stored as a 3200x2400 landscape with Orientation=6 ("rotate 90 CW to display")
    data = samples.phone_jpeg(2400, 3200, orientation=6)
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.size == (3200, 2400)
        assert _is(stored.convert("RGB").getpixel((50, 50)), samples.GREEN)
        assert _is(stored.convert("RGB").getpixel((50, 2350)), samples.RED)

    photo = process_photo(data)

    assert (photo.width, photo.height) == (1200, 1600)
    assert (photo.display.width, photo.display.height) == (1200, 1600)
    assert (photo.thumb.width, photo.thumb.height) == (240, 320)
    assert photo.format_in == "JPEG"
    _assert_upright(photo.display)
    _assert_upright(photo.thumb)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_upright(orientation):
    photo = process_photo(samples.phone_jpeg(600, 400, orientation=orientation))

    assert (photo.width, photo.height) == (600, 400)
    _assert_upright(photo.display)
    _assert_upright(photo.thumb)


def test_gps_position_and_capture_time_are_read():
    data = samples.phone_jpeg(600, 800)

    photo = process_photo(data)

    assert photo.gps == pytest.approx(samples.PITTSBURGH, abs=1e-6)
    assert read_gps(data) == pytest.approx(samples.PITTSBURGH, abs=1e-6)
    assert photo.taken_at == datetime(2026, 11, 20, 9, 15, 0)


SYDNEY, LONDON, RIO = (-33.856784, 151.215297), (51.500729, -0.124625), (-22.951916, -43.2105)


@pytest.mark.parametrize("position", [SYDNEY, LONDON, RIO])
def test_gps_signs_follow_the_hemisphere(position):
    data = samples.phone_jpeg(300, 200, gps=position)

    assert read_gps(data) == pytest.approx(position, abs=1e-6)
    assert process_photo(data).gps == pytest.approx(position, abs=1e-6)


def test_photo_without_gps_or_times():
    data = samples.phone_jpeg(300, 200, gps=None, taken=None, date_time=None)

    photo = process_photo(data)

    assert photo.gps is None
    assert read_gps(data) is None
    assert photo.taken_at is None


def test_capture_time_falls_back_to_datetime_and_ignores_blank_values():
    only_datetime = samples.phone_jpeg(300, 200, taken=None, date_time="2025:01:02 03:04:05")
    blank_original = samples.phone_jpeg(300, 200, taken="0000:00:00 00:00:00", date_time=None)

    assert process_photo(only_datetime).taken_at == datetime(2025, 1, 2, 3, 4, 5)
    assert process_photo(blank_original).taken_at is None


def test_read_gps_of_something_that_is_not_a_photo_is_none():
    assert read_gps(samples.text_file()) is None
    assert read_gps(b"") is None
    assert read_gps(samples.png_header_claiming(20000, 20000)) is None


# -- what is stored ---------------------------------------------------------------------------------------


def test_renditions_carry_no_metadata():
    photo = process_photo(samples.phone_jpeg(2400, 3200, icc=samples.swapped_primaries_icc()))

    for rendition in (photo.display, photo.thumb):
        data = rendition.data
        assert b"Exif\x00\x00" not in data
        assert b"iPhone" not in data and b"Apple" not in data
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "JPEG"
            assert im.mode == "RGB"
            assert len(im.getexif()) == 0
            assert "icc_profile" not in im.info and "xmp" not in im.info and "comment" not in im.info
        assert rendition.content_type == "image/jpeg"
    assert read_gps(photo.display.data) is None


def test_renditions_fit_their_boxes_and_small_images_are_not_enlarged():
    landscape = process_photo(samples.phone_jpeg(4000, 1000, orientation=1))
    small = process_photo(samples.png(400, 300))
    tiny = process_photo(samples.png(100, 80))

    assert (landscape.display.width, landscape.display.height) == (1600, 400)
    assert (landscape.thumb.width, landscape.thumb.height) == (320, 80)
    assert (small.display.width, small.display.height) == (400, 300)
    assert (small.thumb.width, small.thumb.height) == (320, 240)
    assert (tiny.display.width, tiny.display.height) == (tiny.thumb.width, tiny.thumb.height) == (100, 80)
    for photo in (landscape, small, tiny):
        for r in (photo.display, photo.thumb):
            assert _image(r.data).size == (r.width, r.height)


def test_keys_are_content_addressed_and_stable():
    data = samples.phone_jpeg(600, 800)

    first, second = process_photo(data), process_photo(data)

    assert first == second
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    for r in (first.display, first.thumb):
        assert r.key == hashlib.sha256(r.data).hexdigest() + ".jpg"
    assert first.display.key != first.thumb.key


@pytest.mark.parametrize("key", ["../../etc/passwd", "ab.jpg", "A" * 64 + ".jpg", "0" * 64 + ".png", ""])
def test_media_path_refuses_anything_but_a_key(tmp_path, key):
    with pytest.raises(ValueError):
        media_path(tmp_path, key)


# -- accepted formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "format_in"),
    [(samples.png, "PNG"), (samples.webp, "WEBP"), (samples.heic, "HEIF")],
)
def test_png_webp_and_heic_are_accepted(make, format_in):
    photo = process_photo(make(800, 600))

    assert photo.format_in == format_in
    assert (photo.width, photo.height) == (800, 600)
    assert photo.gps == pytest.approx(samples.PITTSBURGH, abs=1e-6)
    _assert_upright(photo.display)


def test_iphone_heic_with_upper_case_name_is_recognised_from_its_bytes(tmp_path):
    upload = tmp_path / "IMG_0001.HEIC"  # Chromium sends it as application/octet-stream
    upload.write_bytes(samples.heic(400, 300))

    photo = process_photo(upload.read_bytes())

    assert photo.format_in == "HEIF"
    assert photo.gps == pytest.approx(samples.PITTSBURGH, abs=1e-6)
    assert (photo.width, photo.height) == (400, 300)
    _assert_upright(photo.display)


OTHER_JPEGS = {  # kind: (make, what Pillow calls it when opened)
    "cmyk": (lambda: samples.encoded("JPEG", mode="CMYK"), ("JPEG", "CMYK")),
    "grey": (lambda: samples.encoded("JPEG", mode="L"), ("JPEG", "L")),
    "mpo": (
        lambda: samples.encoded("MPO", save_all=True, append_images=[Image.new("RGB", (9, 9))]),
        ("MPO", "RGB"),
    ),
}


@pytest.mark.parametrize("kind", OTHER_JPEGS)
def test_other_kinds_of_jpeg_are_accepted_as_jpeg(kind):
    make, opened_as = OTHER_JPEGS[kind]
    data = make()
    with Image.open(io.BytesIO(data)) as im:
        assert (im.format, im.mode) == opened_as

    photo = process_photo(data)

    assert photo.format_in == "JPEG"
    assert (photo.width, photo.height) == (400, 300)
    assert _image(photo.display.data).mode == "RGB"


def test_transparent_png_is_flattened_onto_white():
    photo = process_photo(samples.png(400, 300, mode="RGBA"))

    assert _is(_colour_at(photo.display, 0.5, 0.8), (255, 255, 255), tolerance=8)
    _assert_upright(photo.display)


def test_sixteen_bit_grey_png_keeps_its_tones():
    photo = process_photo(samples.png(400, 300, mode="I;16"))

    top, bottom = _colour_at(photo.display, 0.5, 0.02), _colour_at(photo.display, 0.5, 0.98)
    assert top[0] < 30 and bottom[0] > 225  # the black-to-white gradient, not clipped to white


def test_colours_are_converted_from_the_photos_icc_profile_to_srgb():
    # red pixel numbers in a profile whose "red" primary is sRGB green
    photo = process_photo(samples.phone_jpeg(600, 400, orientation=1, icc=samples.swapped_primaries_icc()))

    assert _is(_colour_at(photo.display, 0.05, 0.05), (0, 255, 0), tolerance=60)


# -- refused uploads --------------------------------------------------------------------------------------

BAD_UPLOADS = {
    "truncated": (samples.truncated_jpeg, "corrupt"),
    "text": (samples.text_file, "not_an_image"),
    "empty": (lambda: b"", "empty"),
    "truncated_heic": (lambda: samples.truncated(samples.heic()), "corrupt"),
    "truncated_png": (lambda: samples.truncated(samples.png()), "corrupt"),
    "truncated_webp": (lambda: samples.truncated(samples.webp()), "corrupt"),
    "png_broken_header": (samples.png_with_broken_header, "corrupt"),
    "pdf": (lambda: b"%PDF-1.4\n" + b"0" * 200, "not_an_image"),
    "gif": (samples.gif, "unsupported_format"),
    "avif": (lambda: samples.encoded("AVIF"), "unsupported_format"),
    "bmp": (lambda: samples.encoded("BMP"), "unsupported_format"),
    "tiff": (lambda: samples.encoded("TIFF"), "unsupported_format"),
    "bomb_64mp_header": (lambda: samples.png_header_claiming(8000, 8000), "too_many_pixels"),
    "bomb_100mp_header": (lambda: samples.png_header_claiming(10000, 10000), "too_many_pixels"),
    "bomb_400mp_header": (lambda: samples.png_header_claiming(20000, 20000), "too_many_pixels"),
}


@pytest.mark.parametrize("kind", BAD_UPLOADS)
def test_bad_upload_is_refused_with_a_reason(kind):
    make, code = BAD_UPLOADS[kind]

    with pytest.raises(PhotoRejected) as caught:
        process_photo(make())

    assert caught.value.code == code
    assert caught.value.message == str(caught.value) == photos.MESSAGES[code]
    assert caught.value.message.endswith(".")
    assert isinstance(caught.value, ValueError)


def test_file_over_the_byte_limit_is_refused(tmp_path):
    data = samples.phone_jpeg(600, 800)

    with pytest.raises(PhotoRejected) as caught:
        process_photo(data, max_bytes=len(data) - 1)
    assert caught.value.code == "too_large"
    assert process_photo(data, max_bytes=len(data)).width == 600


def test_pixel_limit_is_checked_from_the_header():
    with pytest.raises(PhotoRejected) as caught:
        process_photo(samples.phone_jpeg(1000, 800), max_pixels=799_999)
    assert caught.value.code == "too_many_pixels"
    assert process_photo(samples.phone_jpeg(1000, 800), max_pixels=800_000).width == 1000


def test_every_code_has_a_short_plain_message():
    for code, message in photos.MESSAGES.items():
        assert code.replace("_", "").isalpha() and code.islower()
        assert 10 < len(message) < 120 and message[0].isupper() and message.endswith(".")


# -- the benchmark's baseline ------------------------------------------------------------------------------


def test_naive_pipeline_makes_the_same_sizes_upright():
    data = samples.phone_jpeg(2400, 3200)

    display, thumb = naive_pipeline(data)

    assert _image(display).size == (1200, 1600)
    assert _image(thumb).size == (240, 320)
    assert _is(_image(display).convert("RGB").getpixel((30, 30)), samples.RED)

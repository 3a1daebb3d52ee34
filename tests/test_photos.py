"""server/photos.py: what a resident's photo turns into, and which uploads are refused."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import subprocess
import sys
import threading
import time
import uuid
import zlib
from datetime import datetime

import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageStat
from sqlmodel import select

from bench.photos import naive_pipeline
from server import photos, png
from server.config import ROOT
from server.models import Crew, Photo, ServiceRequest
from server.photos import PhotoRejected, media_path, process_photo, read_gps
from server.services.photos import DecodeGate, PhotosBusy, configure_decoding, decode_gate
from server.services.requests import Actor, assign_crew
from tests import photo_samples as samples
from tests.factories import HAVERHILL_CITY_HALL, csrf, login, make_request, make_user
from tests.open311_helpers import V2, api_key


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


# -- big images: memory bounded and known before decoding ----------------------------------------------------

_MODES = ["RGB", "RGBA", "L", "LA", "P", "P4", "1", "I;16"]


def _noise_png(mode: str, width: int, height: int, seed: int) -> bytes:
    """Random pixels (the worst case for PNG filters, so Pillow's encoder picks every filter type)."""
    rnd = random.Random(seed)
    base = "P" if mode == "P4" else mode
    bands = {"RGB": 3, "RGBA": 4, "LA": 2, "I;16": 2}.get(base, 1)
    raw = rnd.randbytes(width * height * bands) if base != "1" else rnd.randbytes(-(-width // 8) * height)
    im = Image.frombytes(base, (width, height), raw)
    if base == "P":
        im.putpalette(rnd.randbytes(768))
        if rnd.random() < 0.5:
            im.info["transparency"] = rnd.randbytes(256)
    buf = io.BytesIO()
    im.save(buf, "PNG", **({"bits": 4} if mode == "P4" else {}))
    return buf.getvalue()


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from(_MODES),
    width=st.integers(1, 240),
    height=st.integers(1, 240),
    side=st.integers(4, 300),
    strip_pixels=st.integers(1, 3000),
    seed=st.integers(0, 2**32),
)
def test_a_png_read_in_strips_looks_like_the_whole_image_decoded(
    mode, width, height, side, strip_pixels, seed
):
    """The strip reader against Pillow's own whole-image decode: many strips (a few rows each), every
    filter type, reduce factors up to 60, every pixel format a PNG can have but 16-bit colour."""
    data = _noise_png(mode, width, height, seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(photos, "DISPLAY_SIDE", side)
        patch.setattr(photos, "STRIP_PIXELS", strip_pixels)
        in_strips = process_photo(data)
        patch.setattr(png, "layout", _not_streamable)
        whole = process_photo(data)

    assert (in_strips.width, in_strips.height) == (whole.width, whole.height)
    a, b = _image(in_strips.display.data), _image(whole.display.data)
    if mode in ("RGBA", "LA") or (mode.startswith("P") and b"tRNS" in data):
        # alpha flattened before shrinking in strips, after it whole: edges may differ a little
        assert ImageStat.Stat(ImageChops.difference(a, b)).mean <= [12, 12, 12]
    else:
        assert in_strips.display.data == whole.display.data


def _not_streamable(data: bytes) -> png.Layout:
    raise png.NotStreamable("test: decode it whole")


def test_interlaced_and_sixteen_bit_colour_pngs_are_decoded_whole_and_upright():
    picture = samples.upright_picture(1800, 1200)
    for data in (
        samples.png_written(picture, interlaced=True),
        samples.png_written(picture, sixteen_bits=True),
        samples.png_written(picture.convert("RGBA"), sixteen_bits=True, interlaced=True),
    ):
        with pytest.raises(png.NotStreamable):
            png.layout(data)
        photo = process_photo(data)
        assert (photo.width, photo.height) == (1600, 1067)
        _assert_upright(photo.display)


def test_a_png_whose_pixels_end_early_is_refused_as_damaged():
    data = samples.png_written(samples.upright_picture(900, 700))
    idat = data.index(b"IDAT")
    cut = data[: idat + 4 + 5000]  # the header, then 5 kB of pixel data
    with pytest.raises(PhotoRejected) as caught:
        process_photo(cut)
    assert caught.value.code == "corrupt"


def test_decode_cost_comes_from_the_header_and_follows_the_decode_path():
    mb = 1 << 20
    # a 49-megapixel PNG as its header describes it (no pixels behind it): read in strips, under 150 MB
    assert 40 * mb < photos.decode_cost(samples.png_header_claiming(7000, 7000)) < 150 * mb
    # the same, interlaced: Pillow decodes it whole, 4 bytes a pixel and more
    interlaced = bytearray(samples.png_header_claiming(7000, 7000))
    interlaced[28] = 1  # IHDR's interlace byte
    interlaced[29:33] = zlib.crc32(bytes(interlaced[12:29])).to_bytes(4, "big")
    assert photos.decode_cost(bytes(interlaced)) > 4 * 49_000_000
    # a progressive JPEG keeps all its DCT coefficients: 2 bytes a sample at full size
    picture = samples.upright_picture(3000, 2000)
    baseline, progressive = io.BytesIO(), io.BytesIO()
    picture.save(baseline, "JPEG", quality=80)
    picture.save(progressive, "JPEG", quality=80, progressive=True)
    extra = photos.decode_cost(progressive.getvalue()) - photos.decode_cost(baseline.getvalue())
    assert extra >= 2 * 3000 * 2000 * 1.5  # 4:2:0: one full-size plane and two quarter-size ones
    assert photos.decode_cost(samples.text_file()) == 0


def test_a_photo_that_alone_needs_more_than_the_budget_is_refused_before_decoding():
    data = samples.png(800, 600)
    with pytest.raises(PhotoRejected) as caught:
        process_photo(data, max_decode_bytes=photos.decode_cost(data) - 1)
    assert caught.value.code == "too_many_pixels"
    assert process_photo(data, max_decode_bytes=photos.decode_cost(data)).width == 800


def test_the_decode_runs_inside_admit_with_its_cost():
    data = samples.phone_jpeg(800, 600)
    seen = []

    @contextlib.contextmanager
    def admit(cost: int):  # type: ignore[no-untyped-def]
        seen.append(("in", cost))
        yield
        seen.append(("out", cost))

    process_photo(data, admit=admit)
    assert seen == [("in", photos.decode_cost(data)), ("out", photos.decode_cost(data))]


_PEAK_SCRIPT = """
import pathlib, re, sys
from tests import photo_samples
from server.photos import process_photo
process_photo(photo_samples.png(300, 200))  # plugins and allocator warmed up
data = pathlib.Path(sys.argv[1]).read_bytes()
def status(field):
    return int(re.search(rf"^{field}:\\s+(\\d+) kB", pathlib.Path("/proc/self/status").read_text(), re.M).group(1))
pathlib.Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
before = status("VmRSS")
photo = process_photo(data)
print(photo.width, photo.height, (status("VmHWM") - before) // 1024)
"""


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_49_megapixel_png_is_decoded_in_under_150_mb(mode, tmp_path):
    """The security report's photo (a small PNG of 49 MP: 330-575 MB each before). Measured as the peak
    resident set of a fresh process, which counts Pillow's C allocations; the photo is made here, so that
    the memory making it took is not in that process to be reused."""
    path = tmp_path / "big.png"
    samples.upright_picture(7000, 7000).convert(mode).save(path, "PNG")
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    width, height, peak_mb = (int(v) for v in out.stdout.split())
    assert (width, height) == (1600, 1600)
    assert peak_mb < 150, f"{mode} 7000x7000 PNG: peak {peak_mb} MB"


# -- the decode gate: how many decodes, and how much memory, at once -------------------------------------


def _run_in_threads(gate: DecodeGate, costs: list[int], hold_s: float) -> tuple[int, int, list[str]]:
    """Each thread holds its admission for hold_s; returns the most at once, the most bytes at once, errors."""
    lock = threading.Lock()
    now = {"n": 0, "bytes": 0, "max_n": 0, "max_bytes": 0}
    errors: list[str] = []

    def one(cost: int) -> None:
        try:
            with gate.admit(cost):
                with lock:
                    now["n"] += 1
                    now["bytes"] += cost
                    now["max_n"] = max(now["max_n"], now["n"])
                    now["max_bytes"] = max(now["max_bytes"], now["bytes"])
                time.sleep(hold_s)
                with lock:
                    now["n"] -= 1
                    now["bytes"] -= cost
        except PhotosBusy as e:
            errors.append(f"busy {e.retry_after}")

    threads = [threading.Thread(target=one, args=(c,)) for c in costs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return now["max_n"], now["max_bytes"], errors


def test_the_gate_lets_n_decodes_run_at_once_and_the_others_wait():
    gate = DecodeGate(budget=1000, slots=2, wait_s=10)
    most, _bytes, errors = _run_in_threads(gate, [10, 10, 10, 10], hold_s=0.05)
    assert (most, errors) == (2, [])


def test_the_gate_keeps_decodes_together_within_the_budget():
    gate = DecodeGate(budget=1000, slots=3, wait_s=10)
    _most, most_bytes, errors = _run_in_threads(gate, [600, 600, 300, 300], hold_s=0.05)
    assert most_bytes <= 1000 and errors == []


def test_the_gate_refuses_after_the_wait_with_a_retry_after():
    gate = DecodeGate(budget=1000, slots=1, wait_s=0.05)
    _most, _bytes, errors = _run_in_threads(gate, [10, 10], hold_s=0.5)
    assert errors == ["busy 1"]


@pytest.fixture
def busy_gate(settings):  # type: ignore[no-untyped-def]
    """Every decode slot taken, and no waiting: the next photo is refused with a 503."""
    configure_decoding(budget_mb=settings.photo_decode_budget_mb, concurrency=1, wait_s=0)
    with decode_gate().admit(0):
        yield
    configure_decoding(
        budget_mb=settings.photo_decode_budget_mb,
        concurrency=settings.photo_decode_concurrency,
        wait_s=settings.photo_decode_wait_s,
    )


def _report(client, files, accept="application/json"):  # type: ignore[no-untyped-def]
    token = csrf(client, "/report")
    lat, long = HAVERHILL_CITY_HALL
    data = {"csrf_token": token, "service_code": "pothole", "attribute[size]": "large"}
    data |= {"lat": str(lat), "long": str(long), "description": "Big hole"}
    return client.post("/report", data=data, files=files, headers={"Accept": accept}, follow_redirects=False)


def _open311(client, session, files, fmt="json"):  # type: ignore[no-untyped-def]
    lat, long = HAVERHILL_CITY_HALL
    data = {"api_key": api_key(session), "service_code": "pothole", "attribute[size]": "large"}
    data |= {"lat": str(lat), "long": str(long), "description": "Big one"}
    return client.post(f"{V2}/requests.{fmt}", data=data, files=files)


def _field_photo(client, session, city, data: bytes):  # type: ignore[no-untyped-def]
    crew = session.exec(select(Crew).order_by(Crew.id)).first()
    user = make_user(session, "crew", email="crew@test.example", crew=crew.name)
    disp = make_user(session, "dispatcher", email="disp@test.example")
    job = make_request(session, city)
    assign_crew(session=session, req=job, crew_id=crew.id, actor=Actor.of(disp))
    meta = {"job": job.id, "user_id": user.id, "client_time": datetime.now().astimezone().isoformat()}
    session.commit()
    assert login(client, user.email).status_code == 303
    token = client.get("/field/api/session").json()["csrf"]
    return client.post(
        f"/field/api/photos/{uuid.uuid4()}",
        data={"event": json.dumps(meta)},
        files={"photo": ("p.jpg", data, "image/jpeg")},
        headers={"X-CSRF-Token": token},
    )


def test_busy_decoding_is_a_503_with_retry_after_in_every_channel(busy_gate, client, session, city):  # type: ignore[no-untyped-def]
    photo = [("photos", ("p.jpg", samples.phone_jpeg(400, 300), "image/jpeg"))]
    app_json = _report(client, photo)
    assert app_json.status_code == 503 and app_json.headers["Retry-After"] == "1"
    assert app_json.json()["error"] == "photos_busy" and "busy" in app_json.json()["message"]
    page = _report(client, photo, accept="text/html")
    assert page.status_code == 503 and page.headers["Retry-After"] == "1"
    assert "busy with other photos" in BeautifulSoup(page.text, "html.parser").select_one("[role=alert]").text

    media = [("media", ("p.jpg", samples.phone_jpeg(400, 300), "image/jpeg"))]
    api = _open311(client, session, media)
    assert api.status_code == 503 and api.headers["Retry-After"] == "1"
    assert api.json()[0]["code"] == "503" and "busy" in api.json()[0]["description"]
    xml = _open311(client, session, media, fmt="xml")
    assert xml.status_code == 503 and xml.text.startswith("<?xml") and "<errors><error>" in xml.text

    field = _field_photo(client, session, city, samples.phone_jpeg(400, 300))
    assert field.status_code == 503 and field.headers["Retry-After"] == "1"  # the phone keeps it queued
    assert session.exec(select(Photo)).all() == [] and session.exec(select(ServiceRequest)).all() != []


# -- an empty photo is refused, an empty file field is no photo ----------------------------------------------


def test_an_empty_photo_is_refused_in_the_resident_form(client, session, settings):  # type: ignore[no-untyped-def]
    empty = [("photos", ("IMG_0001.jpg", b"", "image/jpeg"))]
    r = _report(client, empty)
    assert r.status_code == 400
    assert r.json() == {"error": "photo_empty", "message": photos.MESSAGES["empty"], "field": "photo"}
    page = _report(client, empty, accept="text/html")
    assert page.status_code == 400 and "empty (0 bytes)" in page.text
    # with a good photo beside it: still refused, nothing stored
    both = [("photos", ("a.jpg", samples.phone_jpeg(400, 300), "image/jpeg")), *empty]
    assert _report(client, both).status_code == 400
    assert session.exec(select(ServiceRequest)).all() == []


def test_the_plain_forms_empty_file_field_still_means_no_photo(client, session):  # type: ignore[no-untyped-def]
    r = _report(client, [("photos", ("", b"", "application/octet-stream"))])
    assert r.status_code == 201
    r = _report(client, [("photos", ("", b"", "application/octet-stream"))], accept="text/html")
    assert r.status_code == 303
    assert len(session.exec(select(ServiceRequest)).all()) == 2 and session.exec(select(Photo)).all() == []


def test_an_empty_photo_is_refused_in_spanish(client):  # type: ignore[no-untyped-def]
    client.get("/report?lang=es")
    r = _report(client, [("photos", ("foto.jpg", b"", "image/jpeg"))])
    assert (
        r.status_code == 400 and r.json()["message"] == "Esta foto está vacía (0 bytes). Vuelva a elegirla."
    )


def test_an_empty_open311_media_is_refused(client, session):  # type: ignore[no-untyped-def]
    r = _open311(client, session, [("media", ("pothole.jpg", b"", "image/jpeg"))])
    assert r.status_code == 400
    assert r.json() == [{"code": "400", "description": photos.MESSAGES["empty"]}]
    assert session.exec(select(ServiceRequest)).all() == []
    without = _open311(client, session, [("media", ("", b"", "application/octet-stream"))])
    assert without.status_code == 200 and session.exec(select(Photo)).all() == []


def test_an_empty_field_photo_is_refused_and_the_phone_is_told_why(client, session, city):  # type: ignore[no-untyped-def]
    # the crew app drops an event once it has an answer; a refusal is kept as a notice on the phone
    r = _field_photo(client, session, city, b"")
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["status"] == "refused" and result["reason"] == "photo_empty"
    assert result["message"] == photos.MESSAGES["empty"]
    assert session.exec(select(Photo)).all() == []

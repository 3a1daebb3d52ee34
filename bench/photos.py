"""Photo intake: time and peak memory of a decode, alone and three at once, and speed against plain Pillow.

    .venv/bin/python bench/photos.py [--quick] [--runs N] [--all]

Memory is measured from outside Python's allocator: each case runs in a fresh child process, which decodes
a small photo of every format first (plugins, codec tables), resets the kernel's peak resident set
(`/proc/self/clear_refs`), reads its resident set, decodes, and reports the peak (VmHWM) minus that:
`peak_mb`, which includes Pillow's and the codecs' C allocations (tracemalloc sees only Python's). Next to
it, `cost_mb` is what the decode gate estimates from the header (server/photos.py's cost factors were set
from these figures).

Cases: `png_49mp`, a 7000x7000 RGB PNG of ~425 KB (like the 372 KB one of the security report);
`jpeg_12mp`, a phone JPEG (4032x3024 stored, EXIF orientation 6, GPS, ~4 MB); `concurrent3`, three
`png_49mp` sent at once through the process's decode gate with the default PHOTO_DECODE_BUDGET_MB and
PHOTO_DECODE_CONCURRENCY (the third waits). `--all` adds every other decode path: RGBA, interlaced and
16-bit PNGs, baseline and progressive 49 MP JPEGs, a 49 MP WebP and a 48 MP HEIC (inputs are cached in
the temporary folder). Then the 12 MP JPEG's speed against the plain Pillow pipeline, in this process.

The last line printed is one JSON object: per case `ms` and `peak_mb` (and `cost_mb`, `over_budget` for
what the server would refuse), `concurrent3_peak_mb`, `peak_mb` (the largest of what the server accepts),
`budget_mb`, the speed figures and `meets_target`.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make `server` and `tests` importable

import PIL  # noqa: E402
import pillow_heif  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from server.config import Settings  # noqa: E402
from server.photos import DISPLAY_SIDE, JPEG_QUALITY, THUMB_SIDE, process_photo  # noqa: E402
from tests import photo_samples  # noqa: E402

TARGET_MS = 120
TARGET_SPEEDUP = 2.5
TARGET_PNG_PEAK_MB = 400
CACHE = pathlib.Path(tempfile.gettempdir()) / "civic311-bench-photos-v1"


def naive_pipeline(data: bytes) -> tuple[bytes, bytes]:
    """The plain Pillow pipeline, the baseline process_photo is compared with: full decode, exif_transpose,
    and each rendition resized from the full image. Returns (display JPEG, thumbnail JPEG)."""
    with Image.open(io.BytesIO(data)) as im:
        full = ImageOps.exif_transpose(im).convert("RGB")
    out = []
    for side in (DISPLAY_SIDE, THUMB_SIDE):
        r = full.copy()
        r.thumbnail((side, side))
        buf = io.BytesIO()
        r.save(buf, "JPEG", quality=JPEG_QUALITY)
        out.append(buf.getvalue())
    return out[0], out[1]


# -- inputs --------------------------------------------------------------------------------------------


def _saved(fmt: str, **params: object) -> Callable[[], bytes]:
    def make() -> bytes:
        options = dict(params)
        buf = io.BytesIO()
        picture = photo_samples.upright_picture(*options.pop("size", (7000, 7000)))  # type: ignore[misc]
        if options.pop("rgba", False):
            picture = picture.convert("RGBA")
        picture.save(buf, fmt, **options)
        return buf.getvalue()

    return make


def _written(**params: bool) -> Callable[[], bytes]:
    return lambda: photo_samples.png_written(photo_samples.upright_picture(7000, 7000), **params)


CASES: dict[str, Callable[[], bytes]] = {
    "png_49mp": _saved("PNG"),
    "jpeg_12mp": photo_samples.twelve_mp_phone_jpeg,
}
MORE_CASES: dict[str, Callable[[], bytes]] = {
    "png_49mp_rgba": _saved("PNG", rgba=True),
    "png_49mp_interlaced": _written(interlaced=True),
    "png_49mp_16bit": _written(sixteen_bits=True),
    "jpeg_49mp_baseline": _saved("JPEG", quality=90),
    "jpeg_49mp_progressive": _saved("JPEG", quality=90, progressive=True),
    "jpeg_49mp_progressive_444": _saved("JPEG", quality=90, progressive=True, subsampling=0),
    "webp_49mp": _saved("WEBP", quality=80),
    "heic_48mp": _saved("HEIF", quality=80, size=(8064, 6048)),
}


def _input(name: str, make: Callable[[], bytes]) -> pathlib.Path:
    path = CACHE / name
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(make())
        tmp.replace(path)
    return path


# -- one case, in a child process -----------------------------------------------------------------------


def _status(field: str) -> int:
    """A VmXXX figure of this process, in kB."""
    match = re.search(rf"^{field}:\s+(\d+) kB", pathlib.Path("/proc/self/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


def child(path: pathlib.Path, threads: int, runs: int) -> dict:
    from server.photos import decode_cost
    from server.services import photos as service

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    # the defaults, but waiting as long as needed: here the third decode must wait, not be refused
    service.configure_decoding(
        budget_mb=settings.photo_decode_budget_mb, concurrency=settings.photo_decode_concurrency, wait_s=600
    )
    for warm in (
        photo_samples.phone_jpeg(400, 300),
        photo_samples.png(400, 300),
        photo_samples.webp(400, 300),
    ):
        process_photo(warm)
    process_photo(photo_samples.heic(400, 300))
    data = path.read_bytes()

    def decode() -> None:
        if threads == 1:  # alone: measured even when the budget would refuse it (webp_49mp)
            process_photo(data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels)
        else:  # together: through the gate, as the server does
            service.process_upload(
                data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels
            )

    gc.collect()
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before = _status("VmRSS")
    start = time.perf_counter()
    if threads == 1:
        decode()
    else:
        workers = [threading.Thread(target=decode) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    first_ms = (time.perf_counter() - start) * 1000
    peak_mb = (_status("VmHWM") - before) / 1024
    times = [first_ms]
    for _ in range(runs - 1):
        start = time.perf_counter()
        decode()
        times.append((time.perf_counter() - start) * 1000)
    return {
        "ms": round(statistics.median(times), 1),
        "peak_mb": round(peak_mb, 1),
        "cost_mb": round(decode_cost(data) / 2**20, 1),
        "over_budget": decode_cost(data) > settings.photo_decode_budget_mb << 20,  # the server refuses it
        "input_kb": len(data) // 1000,
    }


def measure(path: pathlib.Path, *, threads: int = 1, runs: int = 1) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--threads", str(threads), "--runs", str(runs)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- speed against the plain pipeline ----------------------------------------------------------------------


def _time_ms(fn, data: bytes, runs: int) -> list[float]:
    fn(data)  # warm-up: plugin imports, allocator
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(data)
        times.append((time.perf_counter() - start) * 1000)
    return times


def speed(photo: bytes, runs: int) -> dict:
    result = process_photo(photo)
    icc_photo = photo_samples.phone_jpeg(
        3024, 4032, realistic=True, quality=92, icc=photo_samples.swapped_primaries_icc()
    )
    ours = _time_ms(process_photo, photo, runs)
    naive = _time_ms(naive_pipeline, photo, runs)
    with_icc = _time_ms(process_photo, icc_photo, max(3, runs // 3))
    ms, naive_ms = statistics.median(ours), statistics.median(naive)
    print(
        f"12 MP JPEG: process_photo median {ms:6.1f} ms (min {min(ours):.1f}, max {max(ours):.1f}, {runs} runs)"
    )
    print(
        f"            naive_pipeline median {naive_ms:6.1f} ms (min {min(naive):.1f}, max {max(naive):.1f})"
    )
    print(f"            with a non-sRGB ICC profile {statistics.median(with_icc):.1f} ms")
    print(f"            speedup {naive_ms / ms:.2f}x (target >= {TARGET_SPEEDUP}x, under {TARGET_MS} ms)")
    return {
        "ms_median": round(ms, 1),
        "naive_ms_median": round(naive_ms, 1),
        "speedup": round(naive_ms / ms, 2),
        "icc_ms_median": round(statistics.median(with_icc), 1),
        "display_size": [result.width, result.height],
        "thumb_size": [result.thumb.width, result.thumb.height],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, main cases only (under a minute)")
    parser.add_argument("--runs", type=int, help="timed runs per case (default 5, --quick 2)")
    parser.add_argument(
        "--all", action="store_true", help="every decode path (first run makes inputs: ~2 min)"
    )
    parser.add_argument("--child", type=pathlib.Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 5)
    if args.child:
        print(json.dumps(child(args.child, args.threads, runs)))
        sys.exit(0)

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    cases = {**CASES, **(MORE_CASES if args.all and not args.quick else {})}
    results: dict = {}
    for name, make in cases.items():
        results[name] = measure(_input(name, make), runs=runs)
        r = results[name]
        refused = ", over the budget: refused" if r["over_budget"] else ""
        print(
            f"{name:28} {r['ms']:8.1f} ms  peak {r['peak_mb']:6.1f} MB  (estimate {r['cost_mb']:.0f} MB{refused})"
        )
    three = measure(_input("png_49mp", CASES["png_49mp"]), threads=3)
    print(
        f"{'concurrent3 (png_49mp x 3)':28} {three['ms']:8.1f} ms  peak {three['peak_mb']:6.1f} MB"
        f"  (budget {settings.photo_decode_budget_mb} MB, {settings.photo_decode_concurrency} at once)"
    )
    fast = speed(photo_samples.twelve_mp_phone_jpeg(), 15 if not args.quick else 5)
    peak = max([r["peak_mb"] for r in results.values() if not r["over_budget"]] + [three["peak_mb"]])
    return {
        **results,
        "concurrent3_ms": three["ms"],
        "concurrent3_peak_mb": three["peak_mb"],
        "peak_mb": peak,
        "budget_mb": settings.photo_decode_budget_mb,
        "concurrency": settings.photo_decode_concurrency,
        **fast,
        "meets_target": results["png_49mp"]["peak_mb"] < TARGET_PNG_PEAK_MB
        and three["peak_mb"] <= settings.photo_decode_budget_mb
        and fast["ms_median"] < TARGET_MS
        and fast["speedup"] >= TARGET_SPEEDUP,
        "quick": args.quick,
        "pillow": PIL.__version__,
        "pillow_heif": pillow_heif.__version__,
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    print(json.dumps(main()))

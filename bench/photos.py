"""Photo intake speed: server.photos.process_photo against the plain Pillow pipeline.

    .venv/bin/python bench/photos.py [--quick] [--runs N]

Input: a 12-megapixel phone JPEG made in memory (4032x3024 stored, EXIF Orientation=6, GPS; ~4 MB, see
tests/photo_samples.py). Both pipelines make a 1600 px display and a 320 px thumbnail JPEG. The last line
printed is one JSON object: ms_median, naive_ms_median, speedup, and details.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make `server` and `tests` importable

import PIL  # noqa: E402
import pillow_heif  # noqa: E402

from server.photos import naive_pipeline, process_photo  # noqa: E402
from tests import photo_samples  # noqa: E402

TARGET_MS = 120
TARGET_SPEEDUP = 2.5


def _time_ms(fn, data: bytes, runs: int) -> list[float]:
    fn(data)  # warm-up: plugin imports, allocator
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(data)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (about 5 s in all)")
    parser.add_argument("--runs", type=int, help="timed runs per pipeline (default 15, --quick 5)")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 15)

    start = time.perf_counter()
    photo = photo_samples.twelve_mp_phone_jpeg()
    make_s = time.perf_counter() - start
    result = process_photo(photo)
    icc_photo = photo_samples.phone_jpeg(
        3024, 4032, realistic=True, quality=92, icc=photo_samples.swapped_primaries_icc()
    )
    print(
        f"input: {len(photo) / 1e6:.1f} MB JPEG, 4032x3024 stored, orientation 6 (made in {make_s:.1f} s); "
        f"display {result.width}x{result.height} {len(result.display.data) // 1000} KB, "
        f"thumb {result.thumb.width}x{result.thumb.height} {len(result.thumb.data) // 1000} KB, "
        f"gps {result.gps}"
    )

    ours = _time_ms(process_photo, photo, runs)
    naive = _time_ms(naive_pipeline, photo, runs)
    with_icc = _time_ms(process_photo, icc_photo, max(3, runs // 3))
    ms, naive_ms = statistics.median(ours), statistics.median(naive)
    print(f"process_photo  median {ms:6.1f} ms  (min {min(ours):.1f}, max {max(ours):.1f}, {runs} runs)")
    print(f"naive_pipeline median {naive_ms:6.1f} ms  (min {min(naive):.1f}, max {max(naive):.1f})")
    print(f"process_photo, input with a non-sRGB ICC profile: {statistics.median(with_icc):.1f} ms")
    print(f"speedup {naive_ms / ms:.2f}x (target >= {TARGET_SPEEDUP}x, under {TARGET_MS} ms)")

    return {
        "ms_median": round(ms, 1),
        "naive_ms_median": round(naive_ms, 1),
        "speedup": round(naive_ms / ms, 2),
        "runs": runs,
        "quick": args.quick,
        "ms_min": round(min(ours), 1),
        "naive_ms_min": round(min(naive), 1),
        "icc_ms_median": round(statistics.median(with_icc), 1),
        "meets_target": ms < TARGET_MS and naive_ms / ms >= TARGET_SPEEDUP,
        "input_bytes": len(photo),
        "input_stored_size": [4032, 3024],
        "display_size": [result.width, result.height],
        "thumb_size": [result.thumb.width, result.thumb.height],
        "display_bytes": len(result.display.data),
        "thumb_bytes": len(result.thumb.data),
        "pillow": PIL.__version__,
        "pillow_heif": pillow_heif.__version__,
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    print(json.dumps(main()))

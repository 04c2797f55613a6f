"""Benchmark (not a test): what libaiflow in every image (spec F87) adds to an image build. Each
image is built twice in this run, one after the other: the baseline with the builder's SDK step
switched off (in a scratch directory, removed after) and the real build with it (into the images
directory, forced, so the tests reuse it). Builds are one at a time (a shared 2-core machine).

    .venv/bin/python bench/image_sdk_build.py tensorflow mxnet [--images-dir var/images]

Prints seconds of each build, the ratio with/without, and the machine's load around each.
Measured 2026-11-27 on the shared 2-core machine (pip cache warm), load ~1: mxnet 9.9 -> 22.0 s,
tensorflow 26.0 -> 40.5 s; load ~12: mxnet 15.8 -> 62.3 s, paddle 31.2 -> 76.2 s. Images layered
on hpcai's environment (deepspeed, pytorch-horovod, mlserver) install nothing more (the client
is there), so they should pay only the ~3 s `import libaiflow.tracking` check (not timed alone).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import core.envbuild as eb  # noqa: E402
from core.images import ImageCatalog  # noqa: E402


def build(name: str, images_dir: Path, sdk: bool) -> float:
    saved = (eb.SDK_REQUIREMENTS, eb.SDK_LAYOUT, eb.SDK_CHECK, eb.expose_sdk)
    if not sdk:  # the builder as it was before F87: no SDK requirement, link or check
        eb.SDK_REQUIREMENTS, eb.SDK_LAYOUT, eb.SDK_CHECK = (), -1, "pass"
        eb.expose_sdk = lambda *a, **k: Path()  # type: ignore[assignment]
    try:
        catalog = ImageCatalog(ROOT / "etc" / "images.toml", ROOT, images_dir)
        base = catalog.base_of(catalog.resolve(name))
        if base is not None and base.build:
            catalog.build(base.name, log=lambda line: None)  # not timed
        t0 = time.time()
        catalog.build(name, force=True, log=lambda line: None)
        return time.time() - t0
    finally:
        eb.SDK_REQUIREMENTS, eb.SDK_LAYOUT, eb.SDK_CHECK, eb.expose_sdk = saved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images", nargs="+")
    ap.add_argument("--images-dir", type=Path, default=ROOT / "var" / "images")
    args = ap.parse_args()
    print(f"{'image':<12} {'without s':>9} {'with s':>7} {'ratio':>6}  load before/after")
    for name in args.images:
        scratch = Path(tempfile.mkdtemp(prefix="sdk-bench-"))
        try:
            l0 = os.getloadavg()[0]
            without = build(name, scratch, sdk=False)
            l1 = os.getloadavg()[0]
            with_sdk = build(name, args.images_dir, sdk=True)
            l2 = os.getloadavg()[0]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print(f"{name:<12} {without:9.1f} {with_sdk:7.1f} {with_sdk / without:6.2f}  "
              f"{l0:.1f}/{l1:.1f}/{l2:.1f}", flush=True)


if __name__ == "__main__":
    main()

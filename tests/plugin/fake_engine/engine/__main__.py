"""``python -m engine`` for the fake engine (see __init__.py)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from osgeo import gdal

gdal.UseExceptions()
TMP: list[str] = []


def emit(**event) -> None:
    print(json.dumps(event), flush=True)


def on_term(signum, _frame):
    for path in TMP:
        if os.path.exists(path):
            os.remove(path)
    sys.exit(130 if signum == signal.SIGINT else 143)


def work(seconds: float) -> None:
    steps = max(int(seconds / 0.1), 1)
    for i in range(steps):
        emit(event="progress", fraction=i / steps, message=f"tile {i + 1}/{steps}")
        time.sleep(seconds / steps)


def upscale(a) -> None:
    src = gdal.Open(a.input)
    if a.resolution:
        sx = abs(src.GetGeoTransform()[1]) / a.resolution
    else:
        sx = a.scale
    w, h = round(src.RasterXSize * sx), round(src.RasterYSize * sx)
    if os.path.exists(a.output) and not a.overwrite:
        raise SystemExit(fail(f"{a.output} exists: pass --overwrite", 3))
    tmp = a.output + ".part.tif"
    TMP.append(tmp)
    open(tmp, "wb").close()  # the partial file a cancel must remove
    work(float(os.environ.get("FAKE_ENGINE_SLEEP", "0")))
    bands = [int(b) for b in a.bands.split(",")] if a.bands else None
    gdal.Translate(tmp, src, width=w, height=h, resampleAlg="nearest", bandList=bands,
                   format="GTiff")
    os.replace(tmp, a.output)
    emit(event="done", output=a.output, seconds=0.1)


def fail(message: str, code: int) -> int:
    emit(event="error", message=message)
    sys.stderr.write(f"error: {message}\n")
    return code


def main() -> int:
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if os.environ.get("FAKE_ENGINE_ARGV"):
        with open(os.environ["FAKE_ENGINE_ARGV"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps(sys.argv[1:]) + "\n")
    if os.environ.get("FAKE_ENGINE_NOISE"):
        print("warming up", flush=True)
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd")
    u = sub.add_parser("upscale")
    u.add_argument("input")
    u.add_argument("output")
    for name in ("--scale", "--resolution"):
        u.add_argument(name, type=float)
    for name in ("--model", "--bands", "--device", "--tile", "--seed", "--steps", "--workers",
                 "--threads", "--ray"):
        u.add_argument(name)
    u.add_argument("--overwrite", action="store_true")
    e = sub.add_parser("evaluate")
    e.add_argument("hr")
    for name in ("--scale", "--model", "--device", "--tile"):
        e.add_argument(name)
    t = sub.add_parser("train")
    t.add_argument("--data", nargs="+")
    for name in ("--out", "--family", "--init", "--epochs", "--iters-per-epoch", "--scale-min",
                 "--scale-max", "--patch", "--batch-size", "--lr", "--seed", "--device",
                 "--time-limit"):
        t.add_argument(name)
    sub.add_parser("models")
    for s in (u, e, t):
        s.add_argument("--progress")
    a = p.parse_args()
    if os.environ.get("FAKE_ENGINE_FAIL"):
        return fail(os.environ["FAKE_ENGINE_FAIL"], 2)
    if a.cmd == "models":
        print(json.dumps([{"name": "fake-small", "family": "lmlte", "bands": 3,
                           "scales": [1, 8], "file": "fake.pth"}]))
    elif a.cmd == "upscale":
        upscale(a)
    elif a.cmd == "evaluate":
        work(float(os.environ.get("FAKE_ENGINE_SLEEP", "0")))
        emit(event="metric", name="psnr/model", value=31.5)
        emit(event="done", output=None, seconds=0.2,
             results={"model": {"psnr": 31.5, "ssim": 0.91},
                      "cubic": {"psnr": 29.0, "ssim": 0.85},
                      "lanczos": {"psnr": 29.4, "ssim": 0.86}})
    elif a.cmd == "train":
        steps = int(a.epochs) * int(a.iters_per_epoch)
        for i in range(steps):
            emit(event="metric", name="loss", value=1.0 / (i + 1), step=i + 1)
            emit(event="progress", fraction=(i + 1) / steps, message=f"iteration {i + 1}")
            time.sleep(float(os.environ.get("FAKE_ENGINE_SLEEP", "0")) / steps)
        os.makedirs(a.out, exist_ok=True)
        ckpt = os.path.join(a.out, "epoch-best.pth")
        with open(ckpt, "wb") as fh:
            fh.write(b"fake checkpoint")
        emit(event="done", output=ckpt, seconds=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

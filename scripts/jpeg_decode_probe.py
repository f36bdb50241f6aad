"""How fast JPEGs decode here: Pillow on one core against nvJPEG (torchvision.io.decode_jpeg on CUDA), batch 64.

    python scripts/jpeg_decode_probe.py          # needs CUDA for the second figure

Decoding alone, on 64 generated 500x375 JPEGs (quality 90, ImageNet's typical size): no
resize, no crop, no loader. It says what a GPU decoding path could gain over the loader
processes (see docs/performance.md), not what training gets.
"""

from __future__ import annotations

import io
import time

import torch
from PIL import Image
from torchvision.io import decode_jpeg

from invertnet.data import DeadLeaves
from invertnet.data.imageio import to_uint8


def main() -> None:
    source = DeadLeaves("val", size=500)
    files = []
    for index in range(64):
        buffer = io.BytesIO()
        Image.fromarray(to_uint8(source.load(index)[:, :375, :]).permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=90)
        files.append(buffer.getvalue())
    started = time.perf_counter()
    for data in files * 2:
        Image.open(io.BytesIO(data)).convert("RGB").load()
    print(f"Pillow, one core: {128 / (time.perf_counter() - started):.0f} images/s")
    if not torch.cuda.is_available():
        print("nvJPEG: no CUDA device")
        return
    tensors = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in files]
    for _ in range(3):
        decode_jpeg(tensors, device="cuda")
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        decode_jpeg(tensors, device="cuda")
    torch.cuda.synchronize()
    print(f"nvJPEG (decode_jpeg on {torch.cuda.get_device_name()}), batches of 64: {640 / (time.perf_counter() - started):.0f} images/s")


if __name__ == "__main__":
    main()

"""Random training crops from a folder of images, drawn as whole batches on the device.

All images are decoded once into one padded uint8 tensor (N x 3 x H x W, on the
training device; portrait images are turned to landscape so the pad stays
small). A batch is one gather: random image indices, random offsets inside each
image's valid area, random horizontal flips, no Python loop per sample.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import EntrozipError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm"}


def image_files(folders) -> list[Path]:
    files = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise EntrozipError(f"{folder}: not a folder")
        files += sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS)
    if not files:
        raise EntrozipError(f"no images in {', '.join(map(str, folders))}")
    return files


class CropSampler:
    """sample(batch) -> batch x 3 x crop x crop float in [0, 1] on `device`."""

    def __init__(self, folders, crop: int, device="cpu", seed: int = 0, progress: bool = True):
        arrays = []
        for path in tqdm(image_files(folders), desc="loading images", disable=not progress, leave=False):
            with Image.open(path) as im:
                a = np.asarray(im.convert("RGB"))
            if a.shape[0] > a.shape[1]:
                a = a.transpose(1, 0, 2)
            if min(a.shape[:2]) >= crop:
                arrays.append(a)
        if not arrays:
            raise EntrozipError(f"no image is at least {crop} x {crop}")
        h = max(a.shape[0] for a in arrays)
        w = max(a.shape[1] for a in arrays)
        data = np.zeros((len(arrays), h, w, 3), np.uint8)
        for i, a in enumerate(arrays):
            data[i, : a.shape[0], : a.shape[1]] = a
        self.data = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous().to(device)
        self.sizes = torch.tensor([a.shape[:2] for a in arrays], device=device)
        self.crop, self.device = crop, device
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __len__(self) -> int:
        return len(self.sizes)

    def sample(self, batch: int) -> torch.Tensor:
        g, dev, c = self.generator, self.device, self.crop
        img = torch.randint(len(self.sizes), (batch,), generator=g, device=dev)
        room = self.sizes[img] - c + 1  # valid offsets per image
        oy = (torch.rand(batch, generator=g, device=dev) * room[:, 0]).long()
        ox = (torch.rand(batch, generator=g, device=dev) * room[:, 1]).long()
        ar = torch.arange(c, device=dev)
        flip = torch.rand(batch, generator=g, device=dev) < 0.5
        cols = torch.where(flip[:, None], ox[:, None] + c - 1 - ar, ox[:, None] + ar)
        rows = oy[:, None] + ar
        ch = torch.arange(3, device=dev)
        x = self.data[img[:, None, None, None], ch[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
        return x.float().div_(255)

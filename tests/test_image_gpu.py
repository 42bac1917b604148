"""Cross-device determinism of the image codec: a file written on the GPU decodes on the
CPU to the same latent, bit for bit, and the other way round. Skips without CUDA.

KODAK_ALL=1 (scripts/gpu_check.sh image) runs all 24 Kodak images at every quality;
by default two images at three qualities.
"""
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")
if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)

from PIL import Image  # noqa: E402

from golden_cases import image_latent_digest  # noqa: E402

from entrozip import open_codec  # noqa: E402
from entrozip.codecs.image.models import QUALITIES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data/kodak, or a git-ignored copy carried to the GPU machine (scripts/gpu_check.sh)
KODAK = next((p for p in (ROOT.parent / "shared" / "data" / "kodak", ROOT / ".kodak") if p.is_dir()), ROOT / ".kodak")
ALL = os.environ.get("KODAK_ALL") == "1"
IMAGES = sorted(KODAK.glob("*.png")) if ALL else sorted(KODAK.glob("*.png"))[:2]
QUALITY_SET = range(1, QUALITIES + 1) if ALL else (1, 4, 8)


@pytest.mark.skipif(not IMAGES, reason="needs ../shared/data/kodak")
@pytest.mark.parametrize("model", ["elic", "mbt2018-mean", "s2lic"])
def test_gpu_and_cpu_decode_each_others_files(model):
    heavy = model == "s2lic"  # ~4 s per Kodak decode on the CPU side: two images, three qualities
    for path in IMAGES[:2] if heavy else IMAGES:
        img = np.asarray(Image.open(path).convert("RGB"))
        for q in (1, 4, 8) if heavy else QUALITY_SET:
            gpu, cpu = (open_codec("image", model=model, quality=q, device=d) for d in ("cuda", "cpu"))
            for blob in (gpu.compress(img), cpu.compress(img)):
                assert image_latent_digest(blob, "cuda") == image_latent_digest(blob, "cpu"), (path.name, q)
                a, b = gpu.decompress(blob), cpu.decompress(blob)
                assert np.abs(a.astype(int) - b.astype(int)).max() <= 2  # float synthesis only

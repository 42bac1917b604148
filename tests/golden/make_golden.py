"""Writes the golden files of the current format version. Run once per version:
    python tests/golden/make_golden.py
Existing files are never overwritten (old versions must keep decoding)."""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))

from golden_cases import BYTES_TEXT, rans_cases  # noqa: E402

from entrozip import open_codec, rans  # noqa: E402

for name, (symbols, model, indexes, kwargs) in rans_cases().items():
    path = here / name
    if not path.exists():
        path.write_bytes(rans.encode(symbols, model, indexes, **kwargs))
        print("wrote", path)
path = here / "bytes_v1.ezc"
if not path.exists():
    path.write_bytes(open_codec("bytes", block_size=1024).compress(BYTES_TEXT))
    print("wrote", path)

# image format v1: tied to the image weights that wrote it (the file records their id);
# when shipped weights change, delete image_v1_* and run this again
import json  # noqa: E402

from PIL import Image  # noqa: E402
from golden_cases import IMAGE_MODELS, IMAGE_QUALITY, image_case, image_latent_digest  # noqa: E402

digests_path = here / "image_v1_latents.json"
digests = json.loads(digests_path.read_text()) if digests_path.exists() else {}
for model_name in IMAGE_MODELS:
    path = here / f"image_v1_{model_name}.ezc"
    if not path.exists():
        codec = open_codec("image", model=model_name, quality=IMAGE_QUALITY, threads=1)
        blob = codec.compress(image_case())
        path.write_bytes(blob)
        Image.fromarray(codec.decompress(blob)).save(here / f"image_v1_{model_name}.png")
        digests[model_name] = image_latent_digest(blob)
        print("wrote", path)
digests_path.write_text(json.dumps(digests, indent=1) + "\n")

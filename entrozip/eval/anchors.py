"""Published rate-distortion curves kept as data (anchors/DATASET.json), with citations."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def load(dataset: str = "kodak") -> dict:
    """{anchor id: {"name", "citation", "bpp", "psnr-rgb", ["ms-ssim-rgb"]}}."""
    try:
        text = (resources.files("entrozip.eval") / "anchors" / f"{dataset}.json").read_text()
    except FileNotFoundError:
        raise ValueError(f"no published anchors for dataset {dataset!r}") from None
    return json.loads(text)["anchors"]

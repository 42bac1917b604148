"""Which image model codes an image when the caller names none.

Every learned image model trains quality q for the same lambda (models.LAMBDAS), so at a
quality the better model is the one with the smaller rate-distortion cost
J = bpp + lambda_q * 255^2 * MSE (the Lagrangian both were trained to minimise; MSE on the
[0, 1] scale, from the Kodak mean PSNR). The default is, quality by quality, the shipped
model whose Kodak record has the smallest J. Today that is S2LIC where it wins and ELIC
above S2LIC's ceiling; once S2LIC's record wins everywhere, it is the default everywhere,
with no change here.

The Kodak record lives in the weights manifest beside the weights it was measured with
(`kodak`: weights_id, results file, bpp and PSNR per quality; written by
scripts/record_kodak.py from an `entrozip eval image` run). A record whose weights_id is not
the shipped weights' is ignored, so re-shipped weights without a new measurement fall back
to FALLBACK_MODEL rather than ride on their predecessor's numbers.

Every file names its model in its header, so decoding never depends on this choice.
"""
from __future__ import annotations

from .models import LAMBDAS, QUALITIES

CANDIDATES = ("elic", "s2lic")  # in order of preference on a tie (elic codes ~3x faster on a CPU)
FALLBACK_MODEL = "elic"


def rd_costs(quality, bpp, psnr) -> dict[int, float]:
    """{q: bpp + lambda_q x 255^2 x MSE} for a curve's points (quality 1..QUALITIES, mean
    bpp, mean RGB PSNR in dB)."""
    return {int(q): float(b) + LAMBDAS[int(q) - 1] * 255**2 * 10 ** (-float(p) / 10)
            for q, b, p in zip(quality, bpp, psnr)}


def kodak_record(result: dict) -> dict:
    """The manifest's `kodak` entry from one model's `entrozip eval image` JSON (the full
    24-image Kodak set, every quality). ValueError when the run is not that."""
    meta, res = result.get("meta", {}), result.get("results", {})
    if meta.get("dataset") != "kodak" or meta.get("images") != 24:
        raise ValueError(f"a Kodak record needs all 24 Kodak images, this run has {meta.get('images')} "
                         f"of {meta.get('dataset')!r}")
    if sorted(res.get("quality", [])) != list(range(1, QUALITIES + 1)):
        raise ValueError(f"a Kodak record needs every quality 1..{QUALITIES}, this run has {res.get('quality')}")
    if not meta.get("weights_trained") or not meta.get("weights_sha256"):
        raise ValueError("the run does not say which trained weights it measured")
    return {"weights_id": meta["weights_sha256"], "quality": list(res["quality"]),
            "bpp": [round(float(v), 5) for v in res["bpp"]], "psnr": [round(float(v), 4) for v in res["psnr-rgb"]]}


def recorded_costs(entry: dict) -> dict[int, float]:
    """{q: J} of a manifest entry's Kodak record, {} when it has none for these weights."""
    rec = entry.get("kodak") or {}
    if not entry.get("trained") or rec.get("weights_id") != entry.get("weights_id"):
        return {}
    return rd_costs(rec["quality"], rec["bpp"], rec["psnr"])


def default_models(shipped: dict | None = None) -> dict[int, str]:
    """{quality: model name} for every quality; `shipped` is the weights manifest's models
    (the package's when None)."""
    if shipped is None:
        from .weights import manifest

        shipped = manifest()
    costs = {name: recorded_costs(shipped.get(name, {})) for name in CANDIDATES}
    table = {}
    for q in range(1, QUALITIES + 1):
        measured = [(costs[name][q], i, name) for i, name in enumerate(CANDIDATES) if q in costs[name]]
        table[q] = min(measured)[2] if measured else FALLBACK_MODEL
    return table


def default_model(quality: int, shipped: dict | None = None) -> str:
    """The model that codes `quality` when the caller names none."""
    return default_models(shipped)[quality]

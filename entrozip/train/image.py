"""`entrozip train image`: variable-rate training of an image model (models.py).

Recipe (CompressAI's, adapted to one model for all qualities):
  * each batch item draws a quality q; loss = lambda[q] * 255^2 * MSE + bpp (or
    lambda[q] * (1 - MS-SSIM) + bpp), so every step trains every rate through the
    per-quality gain vectors;
  * Adam on the network, a separate Adam on the factorized prior's quantiles (aux loss);
  * learning rate: short warm-up, then cosine decay to 1/10 over the time budget
    (runs are budgeted in minutes, so short runs still end annealed);
  * gradient clipping at 1.0; bf16 autocast on CUDA;
  * resume from a run's training state (state.py: float32 weights + Adam's moments, written
    at every checkpoint) when its folder has one, else from exported weights (bf16, Adam
    starts from zero);
  * channels-last activations and weights: the convolutions dominate a step, and oneDNN
    (and tensor cores) run them faster in that layout (s2lic: 1.14x per step on 2 cores);
  * a Kodak check (real coding: bytes and PSNR) at every checkpoint, logged as JSON lines;
  * the exported entry's `training` keeps totals (steps, minutes, runs) and a `history`, one
    record per run (its steps, minutes, lr, batch, crop, seed, hardware, what it started
    from, date), carried through every resume, so shipping a run never loses the runs before.
"""
from __future__ import annotations

import json
import math
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..codecs.image.models import LAMBDAS, MODELS, QUALITIES, ImageModel, to_input
from ..codecs.image.weights import export_weights, initial_model, load_weights
from .data import CropSampler, image_files
from .state import load_training_state, save_training_state, state_path

# LAMBDAS (x 255^2 MSE) live with the models; their MS-SSIM counterparts, q1 .. q8:
MS_SSIM_LAMBDAS = (2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.00)  # x (1 - MS-SSIM)
assert len(LAMBDAS) == len(MS_SSIM_LAMBDAS) == QUALITIES
MS_SSIM_MIN_CROP = 161  # five scales of an 11-tap window


def learning_rate(base: float, progress: float, final: float | None = None, warmup: float = 0.02) -> float:
    """Linear warm-up over the first `warmup` of the run, then cosine from base to `final`
    (default base / 10)."""
    if progress < warmup:
        return base * max(progress / warmup, 0.05)
    final = base / 10 if final is None else final
    t = (progress - warmup) / (1 - warmup)
    return final + (base - final) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def rate_distortion(model: ImageModel, x: torch.Tensor, quality: torch.Tensor, metric: str = "mse"):
    """(loss, bpp, mse) per batch, the quality of each item given; metric "mse" or "ms-ssim"."""
    out = model(x, quality)
    pixels = x.shape[-2] * x.shape[-1]
    bits = sum((-torch.log2(lik)).flatten(1).sum(1) for lik in out["likelihoods"].values())
    bpp = bits / pixels
    x_hat = out["x_hat"].float()
    mse = ((x_hat - x) ** 2).flatten(1).mean(1)
    if metric == "ms-ssim":
        from pytorch_msssim import ms_ssim

        lam = torch.tensor(MS_SSIM_LAMBDAS, device=x.device)[quality]
        distortion = 1 - ms_ssim(x_hat.clamp(0, 1), x, data_range=1.0, size_average=False)
    else:
        lam = torch.tensor(LAMBDAS, device=x.device)[quality]
        distortion = 255**2 * mse
    return (lam * distortion + bpp).mean(), bpp.detach(), mse.detach()


@torch.no_grad()
def kodak_check(model: ImageModel, folder, images: int = 4, qualities=(1, 4, 8), device="cpu") -> dict:
    """Real coding of the first `images` Kodak images: {quality: (bpp, psnr)} of the streams."""
    from PIL import Image

    model.eval()
    model.update(force=True)
    rows = {}
    for q in qualities:
        bpps, psnrs = [], []
        for path in image_files([folder])[:images]:
            a = np.asarray(Image.open(path).convert("RGB"))
            h, w = a.shape[:2]
            x = to_input(a, device)
            out = model.compress(x, q - 1)
            x_hat = model.decompress(out["z"], out["y"], out["z_shape"], q - 1)[..., :h, :w]
            rec = x_hat.mul(255).round().clamp(0, 255)
            mse = float(((rec - x[..., :h, :w] * 255) ** 2).mean())
            bpps.append(8 * (sum(map(len, out["z"])) + sum(map(len, out["y"]))) / (h * w))
            psnrs.append(10 * math.log10(255**2 / max(mse, 1e-10)))
        rows[q] = (float(np.mean(bpps)), float(np.mean(psnrs)))
    model.train()
    return rows


def train(model_name: str, data, out, minutes: float, batch: int = 8, crop: int = 128, lr: float = 2e-4,
          device: str | None = None, resume=None, seed: int = 0, kodak=None, checkpoint_minutes: float = 15.0,
          metric: str = "mse", progress: bool = True, log=print, compile_model: bool = False) -> dict:
    """Train for `minutes` of wall time; export weights to `out` at every checkpoint and at the end."""
    if model_name not in MODELS:
        raise ValueError(f"unknown image model {model_name!r}; available: {', '.join(MODELS)}")
    if metric not in ("mse", "ms-ssim"):
        raise ValueError(f"metric must be mse or ms-ssim, got {metric!r}")
    if metric == "ms-ssim" and crop < MS_SSIM_MIN_CROP:
        raise ValueError(f"MS-SSIM training needs crops of at least {MS_SSIM_MIN_CROP} pixels (got {crop})")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = initial_model(model_name)
    previous, resume_state, started_from = {}, None, "scratch"
    if resume and str(resume) != "package" and state_path(resume, model_name).is_file():
        resume_state = state_path(resume, model_name)
    elif resume:
        if str(resume) == "package":  # the weights that ship with entrozip
            from ..codecs.image.weights import WEIGHTS_DIR, manifest

            entry, folder = manifest().get(model_name), WEIGHTS_DIR
            if not entry:
                raise ValueError(f"no shipped weights of {model_name} to resume from")
        else:
            folder = Path(resume)
            entry = json.loads((folder / f"{model_name}.json").read_text())
        load_weights(model, [folder / f for f in entry["files"]])
        previous = entry.get("training", {})
        started_from = "package" if str(resume) == "package" else "weights"
    model.to(device, memory_format=torch.channels_last).train()
    aux_params = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    opt = torch.optim.Adam(main_params, lr=lr)
    aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
    optimizers = {"main": opt, "aux": aux_opt}
    if resume_state:
        header = load_training_state(resume_state, model, optimizers, model_name)
        previous, started_from = header.get("training", {}), "state"
        log(f"resuming {model_name} from its training state ({previous.get('steps', 0)} steps, float32 + Adam)")
    sampler = CropSampler(data if isinstance(data, (list, tuple)) else [data], crop, device, seed, progress)
    log_path = out / f"{model_name}.log.jsonl"
    budget = minutes * 60
    start = time.perf_counter()
    next_checkpoint = checkpoint_minutes * 60
    step, window = 0, []
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else torch.autocast("cpu", enabled=False)
    bar = tqdm(total=int(budget), unit="s", desc=f"train {model_name}", disable=not progress)
    # torch.compile fuses the transforms' elementwise work (GDN, noise, likelihoods); it pays
    # for its first-step compile on a GPU run of more than a few minutes, not on the CPU
    step_fn = torch.compile(rate_distortion) if compile_model else rate_distortion

    def record(kind: str, **fields) -> dict:
        row = {"kind": kind, "step": step, "minutes": round((time.perf_counter() - start) / 60, 2), **fields}
        with log_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        return row

    def checkpoint() -> dict:
        elapsed = (time.perf_counter() - start) / 60
        check = kodak_check(model, kodak, device=device) if kodak else {}
        hardware = (torch.cuda.get_device_name() if device.startswith("cuda") else
                    f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}")
        this_run = {"steps": step, "minutes": round(elapsed, 2), "lr": lr, "batch": batch, "crop": crop, "seed": seed,
                    "metric": metric, "hardware": hardware, "from": started_from, "date": date.today().isoformat()}
        meta = {"model": model_name, "trained": True, "data": [str(d) for d in (data if isinstance(data, (list, tuple)) else [data])],
                "data_licence": "BSDS500: research use" if "bsds" in str(data).lower() else "see data",
                "training": {"steps": previous.get("steps", 0) + step,
                             "minutes": round(previous.get("minutes", 0) + elapsed, 2),
                             "runs": previous.get("runs", 0) + 1,  # this run, from its first checkpoint on: one killed later still ran
                             "crop": crop, "batch": batch, "lr": lr, "metric": metric,
                             "lambdas": list(MS_SSIM_LAMBDAS if metric == "ms-ssim" else LAMBDAS), "seed": seed,
                             "hardware": hardware,
                             **({"note": previous["note"]} if "note" in previous else {}),
                             "history": [*previous.get("history", []), this_run]},
                "kodak_check": {str(q): {"bpp": b, "psnr": p} for q, (b, p) in check.items()}}
        entry = export_weights(model, model_name, out, meta)
        save_training_state(state_path(out, model_name), model, optimizers,
                            {"model": model_name, "weights_id": entry["weights_id"], "training": meta["training"]})
        record("checkpoint", kodak=meta["kodak_check"], weights_id=entry["weights_id"])
        if check:
            log("  ".join(f"q{q}: {b:.3f} bpp {p:.2f} dB" for q, (b, p) in check.items()))
        return entry

    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            break
        for group in opt.param_groups:
            group["lr"] = learning_rate(lr, elapsed / budget)
        x = sampler.sample(batch).contiguous(memory_format=torch.channels_last)
        quality = torch.randint(QUALITIES, (batch,), device=device)
        with autocast:
            loss, bpp, mse = step_fn(model, x, quality, metric)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        opt.step()
        aux_loss = model.entropy.entropy_bottleneck.loss()
        aux_opt.zero_grad(set_to_none=True)
        aux_loss.backward()
        aux_opt.step()
        step += 1
        window.append((float(loss.detach()), float(bpp.mean()), float((10 * torch.log10(1 / mse.clamp_min(1e-10))).mean())))
        if step % 50 == 0:
            l, b, p = np.mean(window, axis=0)
            record("train", loss=round(l, 4), bpp=round(b, 4), psnr=round(p, 2), lr=opt.param_groups[0]["lr"])
            bar.set_postfix(loss=f"{l:.3f}", bpp=f"{b:.3f}", psnr=f"{p:.2f}")
            window.clear()
        bar.update(int(time.perf_counter() - start) - bar.n)
        if next_checkpoint <= time.perf_counter() - start < budget:  # the final one follows the loop
            checkpoint()
            next_checkpoint += checkpoint_minutes * 60
    bar.close()
    return checkpoint()

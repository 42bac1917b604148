"""Training the video model's spatiotemporal entropy model on synthetic clips.

There is no video training set here, so clips are synthesised from still photos
(BSDS500): a crop window that pans, zooms and turns a little from frame to frame
over one photo, with a brightness drift and fresh sensor noise per frame
(`ClipSampler`). The evaluation clips are never used.

The image model (transforms, gains, intra entropy model) is the shipped one and
stays frozen: every frame goes through the same transforms (STEM's premise), so
what is learned is how to code an inter latent given the previous decoded latent
— the temporal prior T, the inter hyper-analysis h_a (it sees the latent's change
y_t - y_hat_{t-1}; encoder only) and the inter parameter networks (h_s, the z prior
and the context networks are the image model's). With the transforms fixed the
distortion does not depend on these networks, so the loss is the rate of the
inter frames alone (bits per pixel, y and z), over random qualities (one model
serves all eight, through the image model's gains).

The inter parameter networks start as copies of the intra ones with the temporal
features' weights at zero and the mean outputs at zero, so training starts from
coding each latent's residual against the previous one with the intra scales.
"""
from __future__ import annotations

import json
import math
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..codecs.image.models import QUALITIES
from .data import CropSampler
from .image import learning_rate


class ClipSampler:
    """sample(batch, frames) -> frames x batch x 3 x crop x crop in [0, 1]: synthetic motion.

    Per clip, with a speed s = u^2 (u uniform in [0, 1]: most clips move slowly, as most
    video does, a few fast): a velocity of up to s * `max_shift` pixels per frame, a zoom
    of up to +-2 s % and a rotation of up to +-s degree per frame, a brightness drift of up
    to +-1 % per frame, and Gaussian noise of sigma up to 1/255 drawn afresh every frame."""

    def __init__(self, folders, crop: int, device="cpu", seed: int = 0, max_shift: float = 6.0,
                 progress: bool = True):
        self.crop, self.device, self.max_shift = crop, device, max_shift
        self.window = int(crop * 1.5) // 16 * 16  # room for the motion inside each photo
        self.photos = CropSampler(folders, self.window, device, seed, progress)
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)

    def sample(self, batch: int, frames: int) -> torch.Tensor:
        g, dev = self.generator, self.device
        big = self.photos.sample(batch)  # B x 3 x S x S
        S, c = self.window, self.crop

        def u(lo, hi):
            return lo + (hi - lo) * torch.rand(batch, generator=g, device=dev)

        speed = u(0, 1) ** 2
        vx, vy = speed * u(-self.max_shift, self.max_shift), speed * u(-self.max_shift, self.max_shift)
        zoom, turn = speed * u(-0.02, 0.02), speed * u(-math.pi / 180, math.pi / 180)
        drift, sigma = u(-0.01, 0.01), u(0, 1 / 255)
        out = []
        for t in range(frames):
            scale = (c / S) / (1 + zoom) ** t
            a = turn * t
            theta = torch.stack([torch.stack([scale * torch.cos(a), -scale * torch.sin(a), 2 * vx * t / S], -1),
                                 torch.stack([scale * torch.sin(a), scale * torch.cos(a), 2 * vy * t / S], -1)], 1)
            grid = F.affine_grid(theta, (batch, 3, c, c), align_corners=False)
            x = F.grid_sample(big, grid, mode="bilinear", padding_mode="border", align_corners=False)
            x = x * (1 + drift * t).view(-1, 1, 1, 1)
            x = x + sigma.view(-1, 1, 1, 1) * torch.randn(x.shape, generator=g, device=dev)
            out.append(x.clamp(0, 1))
        return torch.stack(out)


def frame_bits(out: dict) -> torch.Tensor:
    """Bits of one frame's y and z over the batch, from its likelihoods."""
    return sum((-torch.log2(lik.clamp_min(1e-9))).sum() for lik in out["likelihoods"].values())


def inter_bpp(outs, pixels: int) -> torch.Tensor:
    """Bits per pixel of the inter frames (y and z), averaged over frames and batch."""
    inter = [o for o in outs if not o["intra"]]
    bits = sum(frame_bits(o) for o in inter)
    n = inter[0]["y_hat"].shape[0] * len(inter)
    return bits / (n * pixels)


def clip_rd_loss(outs, frames: torch.Tensor, quality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, bpp) of clips coded by a model whose transforms train: the rate of every frame
    (intra included: the transforms shape it) plus lambda[q] x 255^2 x MSE, averaged over
    frames and clips — the image model's own objective, per frame. frames: T x N x 3 x H x W."""
    from ..codecs.image.models import LAMBDAS

    lam = torch.tensor(LAMBDAS, device=frames.device)[quality]
    n, pixels = frames.shape[1], frames.shape[-1] * frames.shape[-2]
    bits = sum(frame_bits(o) for o in outs)
    distortion = sum((lam * 255**2 * (o["x_hat"] - x).square().mean(dim=(1, 2, 3))).mean()
                     for o, x in zip(outs, frames))
    bpp = bits / (n * len(outs) * pixels)
    return bpp + distortion / len(outs), bpp


def train(data, out, minutes: float, batch: int = 8, crop: int = 128, frames: int = 3, lr: float = 1e-4,
          device: str = "cpu", seed: int = 0, progress: bool = True, log_every: int = 50,
          lr_final: float | None = None, resume=None, transforms: bool = False,
          transform_lr: float | None = None) -> dict:
    """Train the inter entropy model for `minutes`; export weights + manifest entry to OUT.
    The learning rate falls from `lr` to `lr_final` (default lr / 10) on a cosine over the
    run's wall-clock time. resume: "package" or an exported folder, to continue from (its
    steps and minutes are added to this run's in the manifest entry).

    transforms: fine-tune the analysis and synthesis transforms on the clips as well, at
    `transform_lr` (default lr / 10, on the same cosine), for rate + lambda x distortion of
    every frame (clip_rd_loss); they become the video model's own (exported beside the
    entropy model's weights; the image codec keeps its own). Once a model has its own
    transforms they stay in every later export, trained or not."""
    from ..codecs.video.weights import (TRANSFORMS, export_weights, initial_video_model, load_own_weights,
                                        own_prefixes, resume_source)

    torch.manual_seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = resume_source(resume) if resume is not None else None  # a bad folder fails before any work
    folders = [data] if isinstance(data, (str, Path)) else list(data)
    sampler = ClipSampler(folders, crop, device, seed, progress=progress)
    video = initial_video_model()
    before = {"steps": 0, "minutes": 0.0, "runs": 0, "transform_steps": 0, "history": []}
    own_transforms = transforms
    if source is not None:
        folder, entry = source
        prefixes = own_prefixes(entry)
        load_own_weights(video, folder, entry["files"], prefixes)
        own_transforms = own_transforms or TRANSFORMS[0] in prefixes
        t = entry.get("training", {})
        before = {"steps": t.get("steps", 0), "minutes": t.get("minutes", 0.0), "runs": t.get("runs", 1),
                  "transform_steps": t.get("transform_steps", 0), "history": t.get("history", [])}
    video = video.to(device)
    video.image.eval()
    for p in video.image.parameters():
        p.requires_grad_(False)
    coders = [*video.image.g_a.parameters(), *video.image.g_s.parameters()] if transforms else []
    for p in coders:
        p.requires_grad_(True)
    if transforms:
        video.image.g_a.train()
        video.image.g_s.train()
    video.temporal.train()
    video.inter.h_a.train()
    video.inter.y_model.param_nets.train()
    # The quantisers (shared with the frozen image model) in training mode: additive noise
    # for the likelihoods. In eval mode they round, and rounding passes no gradient to the
    # predicted means or to z (so to h_a): only the scales would learn.
    video.inter.entropy_bottleneck.train()
    video.inter.y_model.gaussian_conditional.train()
    lr_final = lr / 10 if lr_final is None else lr_final
    transform_lr = lr / 10 if transform_lr is None else transform_lr
    main = video.own_parameters()
    groups = [{"params": main, "base": (lr, lr_final)}]
    if coders:
        groups.append({"params": coders, "base": (transform_lr, transform_lr * lr_final / lr)})
    opt = torch.optim.Adam(groups, lr=lr)
    log = open(out / "train_video.log.jsonl", "w")
    start, step, ema = time.perf_counter(), 0, None
    bar = tqdm(total=int(minutes * 60), desc="train video", unit="s", disable=not progress)
    while time.perf_counter() - start < minutes * 60:
        done = (time.perf_counter() - start) / (minutes * 60)
        for group in opt.param_groups:
            group["lr"] = learning_rate(group["base"][0], done, final=group["base"][1], warmup=0.0)
        clip = sampler.sample(batch, frames)
        quality = torch.randint(QUALITIES, (batch,), device=device)
        outs = video(clip, quality, train_transforms=transforms)
        if transforms:
            loss, rate = clip_rd_loss(outs, clip, quality)
        else:
            loss = rate = inter_bpp(outs, crop * crop)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main + coders, 1.0)
        opt.step()
        step += 1
        ema = rate.item() if ema is None else 0.98 * ema + 0.02 * rate.item()
        if step % log_every == 0:
            log.write(json.dumps({"step": step, "minutes": (time.perf_counter() - start) / 60,
                                  ("bpp" if transforms else "inter_bpp"): ema, "loss": loss.item()}) + "\n")
            log.flush()
        bar.n = min(int(time.perf_counter() - start), bar.total)
        bar.set_postfix(step=step, bpp=f"{ema:.4f}")
    bar.close()
    log.close()
    minutes_run = (time.perf_counter() - start) / 60
    video.eval()
    meta = {"trained": True, "data": [str(f) for f in folders], "data_licence": "BSDS500: research use",
            "synthetic_clips": "pans, zooms, rotations, brightness drift and noise over still photos "
                               "(train/video.py ClipSampler); no video and no evaluation clip was used",
            "training": {"steps": before["steps"] + step, "minutes": round(before["minutes"] + minutes_run, 1),
                         "runs": before["runs"] + 1,
                         # one record per run, oldest first, carried through every resume
                         "history": [*before["history"], {
                             "steps": step, "minutes": round(minutes_run, 1), "lr": lr, "batch": batch, "crop": crop,
                             "frames": frames, "seed": seed, "device": str(device), "transforms": bool(transforms),
                             "from": "scratch" if source is None else "weights", "date": date.today().isoformat()}],
                         "batch": batch, "crop": crop,
                         "frames": frames, "lr": lr, "lr_final": lr_final, "seed": seed, "device": str(device),
                         "frozen": "the image model's gains and intra entropy model" + (
                             "" if transforms else ", and its transforms this run"),
                         "transform_steps": before["transform_steps"] + (step if transforms else 0),
                         "transform_lr": transform_lr if transforms else None,
                         ("final_bpp" if transforms else "final_inter_bpp"): ema}}
    entry = export_weights(video, out, meta, transforms=own_transforms)
    return entry

"""Where a training step of an image model spends its time (torch.profiler), and steps/s.

    python scripts/profile_train_step.py [--model s2lic] [--batch 16] [--crop 256] [--steps 10]

Random crops (no data needed), the training step of entrozip/train/image.py (bf16
autocast on CUDA), a few warm-up steps, then `--steps` profiled ones. Prints the
steps per second without the profiler and the top operators by device (or CPU) time.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from entrozip.codecs.image.models import QUALITIES
from entrozip.codecs.image.weights import initial_model
from entrozip.train.image import rate_distortion


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="s2lic")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    model = initial_model(args.model).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    def step():
        x = torch.rand(args.batch, 3, args.crop, args.crop, device=device)
        q = torch.randint(QUALITIES, (args.batch,), device=device)
        with autocast:
            loss, _, _ = rate_distortion(model, x, q)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step()
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    rate = args.steps / (time.perf_counter() - t)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            step()
        if cuda:
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=20))
    print(f"{args.model}: {rate:.2f} steps/s at batch {args.batch}, crop {args.crop} on "
          f"{torch.cuda.get_device_name() if cuda else 'the CPU'}")


if __name__ == "__main__":
    main()

"""Where a training step of an image model spends its time (torch.profiler), and steps/s.

    python scripts/profile_train_step.py [--model s2lic] [--batch 16] [--crop 256] [--steps 10]
                                         [--layouts channels_last,contiguous] [--no-profile]

Random crops (no data needed), the training step of entrozip/train/image.py (bf16
autocast on CUDA), a few warm-up steps, then `--steps` timed ones per memory layout
(channels_last is what training uses; contiguous is NCHW, for comparison), then
`--steps` profiled ones in the first layout. Prints the steps per second per layout
and the top operators by device (or CPU) time.
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
    ap.add_argument("--layouts", default="channels_last,contiguous",
                    help="memory layouts to time, the first also profiled (channels_last, contiguous)")
    ap.add_argument("--no-profile", action="store_true", help="time only")
    args = ap.parse_args()
    known = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
    if not set(args.layouts.split(",")) <= set(known):
        ap.error(f"--layouts: choose from {', '.join(known)}")
    layouts = [known[name] for name in args.layouts.split(",")]
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
    rates, steps = {}, []
    for name, layout in zip(args.layouts.split(","), layouts):
        rates[name], step = steps_per_second(args, layout, device, autocast, cuda)
        steps.append(step)
    if not args.no_profile:
        step = steps[0]  # the first layout's model, already warm
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            for _ in range(args.steps):
                step()
            if cuda:
                torch.cuda.synchronize()
        key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=20))
    where = torch.cuda.get_device_name() if cuda else f"the CPU ({torch.get_num_threads()} threads)"
    for name, rate in rates.items():
        print(f"{args.model}: {rate:.3f} steps/s ({1 / rate:.3f} s/step) at batch {args.batch}, crop {args.crop}, "
              f"{name} on {where}")


def steps_per_second(args, layout, device, autocast, cuda):
    """(steps/s over `--steps` timed steps after 3 warm-up ones, the step function) of a
    fresh model and optimizer in `layout`."""
    model = initial_model(args.model).to(device, memory_format=layout).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        x = torch.rand(args.batch, 3, args.crop, args.crop, device=device).contiguous(memory_format=layout)
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
    return args.steps / (time.perf_counter() - t), step


if __name__ == "__main__":
    main()

"""ACGC: adaptive channel-wise and global-inter attention context (S2LIC, Wang et al. 2024).

The channel context of slice k, computed from every slice decoded before it
(E: N x C_in x H x W, C_in = channels of slices 0..k-1):

  adaptive channel-wise attention    which earlier slices (channels) and where matter here:
      a = E * sigmoid(gate_c(mean_hw(E)))                     channel gate (N x C_in x 1 x 1)
      a = a * sigmoid(gate_s([mean_c(a), max_c(a)]))         spatial gate (N x 1 x H x W)
      f = local(a)                                            3x3 + 1x1 features (hidden)
  global-inter attention             deformable attention over the earlier slices:
      v = value(a)                                            values (VALUE_CHANNELS)
      (dy, dx, logit)_p = sampling(f) + base_p,  p < POINTS   learned offsets, up to MAX_OFFSET
      g = sum_p softmax(logit)_p * bilinear(v, here + (dy, dx)_p)
  out = fuse([f, g])                                          2 x g_k features for the param net

Every learned map is an IntegerNet and every other op has an exact fixed-point
twin (fixed_point.py), so the CDF indexes the decoder derives from this match
the encoder's bit for bit on any device. In the checkerboard pass of each slice
the non-anchors also see the slice's decoded anchors (the paper's figure; the
authors' code leaves them out), through SliceContextGaussian's spatial nets.

ACGCContextGaussian is SliceContextGaussian with this as its channel context and
latent residual prediction on.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import fixed_point as fx
from ..integer import IntegerNet
from .slices import FRAC, SliceContextGaussian

POINTS = 8
VALUE_CHANNELS = 32
MAX_OFFSET = 16  # latent positions (256 pixels) each way, on top of the base pattern


def base_offsets(points: int = POINTS) -> torch.Tensor:
    """points x 2 starting offsets: two rings (radius 2, then 5) at evenly turned angles,
    so the points look in different directions before training moves them."""
    k = torch.arange(points, dtype=torch.float64)
    radius = torch.where(k % 2 == 0, torch.tensor(2.0, dtype=torch.float64), torch.tensor(5.0, dtype=torch.float64))
    angle = 2 * math.pi * k / points
    return torch.stack([radius * torch.sin(angle), radius * torch.cos(angle)], dim=1)


class ACGC(nn.Module):
    """E (N x c_in x H x W) -> c_out features; forward (float, training) and forward_int
    (int64 FRAC fixed point in and out, exact)."""

    def __init__(self, c_in: int, c_out: int, hidden: int = 128, points: int = POINTS):
        super().__init__()
        self.points = points
        net = lambda *layers: IntegerNet(*layers, in_frac_bits=FRAC, out_frac_bits=FRAC)  # noqa: E731
        squeeze = max(8, c_in // 4)
        self.channel_gate = net(nn.Conv2d(c_in, squeeze, 1), nn.ReLU(), nn.Conv2d(squeeze, c_in, 1))
        self.spatial_gate = net(nn.Conv2d(2, 1, 7, padding=3))
        self.local = net(nn.Conv2d(c_in, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 1))
        self.value = net(nn.Conv2d(c_in, VALUE_CHANNELS, 1))
        self.sampling = net(nn.Conv2d(hidden, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, 3 * points, 1))
        self.fuse = net(nn.Conv2d(hidden + VALUE_CHANNELS, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, c_out, 1))
        nn.init.zeros_(self.sampling.layers[-1].conv.weight)  # start at the base pattern, equal weights
        nn.init.zeros_(self.sampling.layers[-1].conv.bias)
        base = base_offsets(points)
        self.register_buffer("base_offset", torch.round(base * (1 << FRAC)).to(torch.int64))  # points x 2, FRAC
        self.register_buffer("sigmoid_lut", fx.sigmoid_table(FRAC))
        self.register_buffer("exp_lut", fx.exp_table(FRAC))

    def _nets(self):
        return (self.channel_gate, self.spatial_gate, self.local, self.value, self.sampling, self.fuse)

    @property
    def frozen(self) -> bool:
        return all(n.frozen for n in self._nets())

    def freeze(self) -> None:
        for n in self._nets():
            n.freeze()

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        p = self.points
        a = e * fx.sigmoid_float(self.channel_gate(e.mean(dim=(2, 3), keepdim=True)))
        s = torch.cat([a.mean(dim=1, keepdim=True), a.amax(dim=1, keepdim=True)], dim=1)
        a = a * fx.sigmoid_float(self.spatial_gate(s))
        f = self.local(a)
        v = self.value(a)
        samp = self.sampling(f)
        base = self.base_offset.to(e.dtype) / (1 << FRAC)
        oy = samp[:, :p].clamp(-MAX_OFFSET, MAX_OFFSET) + base[:, 0].view(1, p, 1, 1)
        ox = samp[:, p:2 * p].clamp(-MAX_OFFSET, MAX_OFFSET) + base[:, 1].view(1, p, 1, 1)
        w = fx.softmax_float(samp[:, 2 * p:])
        g = (fx.bilinear_float(v, oy, ox) * w.unsqueeze(1)).sum(dim=2)
        return self.fuse(torch.cat([f, g], dim=1))

    def forward_int(self, e: torch.Tensor) -> torch.Tensor:
        p, lim = self.points, MAX_OFFSET << FRAC
        a = fx.scale_int(e, fx.sigmoid_int(self.channel_gate.forward_int(fx.spatial_mean_int(e)), self.sigmoid_lut, FRAC))
        s = torch.cat([fx.channel_mean_int(a), a.amax(dim=1, keepdim=True)], dim=1)
        a = fx.scale_int(a, fx.sigmoid_int(self.spatial_gate.forward_int(s), self.sigmoid_lut, FRAC))
        f = self.local.forward_int(a)
        v = self.value.forward_int(a)
        samp = self.sampling.forward_int(f)
        base = self.base_offset.to(e.device)
        oy = samp[:, :p].clamp(-lim, lim) + base[:, 0].view(1, p, 1, 1)
        ox = samp[:, p:2 * p].clamp(-lim, lim) + base[:, 1].view(1, p, 1, 1)
        w = fx.softmax_int(samp[:, 2 * p:], self.exp_lut, FRAC)
        acc = (fx.bilinear_int(v, oy, ox, FRAC) * w.unsqueeze(1)).sum(dim=2)
        g = (acc + (1 << (fx.Q - 1))) >> fx.Q
        return self.fuse.forward_int(torch.cat([f, g], dim=1))


class ACGCContextGaussian(SliceContextGaussian):
    """SliceContextGaussian with ACGC as the channel context and latent residual prediction."""

    def __init__(self, groups, hyper_channels: int, checkerboard: bool = True, hidden: int = 128, scale_table=None):
        super().__init__(groups, hyper_channels, checkerboard, hidden, scale_table, lrp=True)

    def _channel_net(self, c_in: int, c_out: int, hidden: int) -> nn.Module:
        return ACGC(c_in, c_out, hidden)

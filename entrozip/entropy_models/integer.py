"""Integer networks: the part of an entropy model whose outputs choose CDFs.

A decoder must reproduce the CDF indexes and means of the encoder bit for bit,
on any CPU, any torch version and on a GPU. Float networks cannot promise that
(summation order, FMA, kernel choice all move the last bit, and a value near a
bin edge then picks another CDF). So the networks on that path run, at coding
time, in integer arithmetic (after Ballé, Johnston and Minnen, "Integer networks
for data compression with latent-variable models", ICLR 2019):

    weights   : per-output-channel scale, integers |w| <= 2**(WEIGHT_BITS-1) - 1
    inputs    : fixed point, x = X * 2**-frac, |X| <= MAX_ABS_INPUT (clamped)
    conv      : evaluated in float64 on integer values; every product and every
                partial sum is an integer below 2**53 (checked when freezing), so
                the result is exact whatever the summation order or kernel
    bias      : added in int64
    requantise: (acc * M + 2**(S-1)) >> S in int64, per output channel
    activation: ReLU, then clamp to the ACT_BITS signed range

Activations use power-of-two scales chosen from the range seen in training
(`out_absmax`, a buffer), so concatenating the outputs of two nets is only legal
when both end at the same fixed `out_frac_bits` (the nets here always do).

The training path is the float network (`forward`). `freeze()` turns its weights
into integer buffers that live in the state dict; a decoder uses those buffers
and never re-derives them while coding. Deriving them uses only correctly rounded
IEEE operations on the float weights and `out_absmax` (max, division, round half
to even, powers of two), so a fresh freeze is the same everywhere: shipped files
leave these buffers out (`DERIVED_BUFFERS`, half of a model's integer-net bytes)
and the loader freezes again (`freeze_integer_nets`), checked against the
weights_id that hashes them.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

WEIGHT_BITS = 10
ACT_BITS = 12
MULT_BITS = 15
MAX_ABS_INPUT = 1 << 20
_EXACT = 1 << 52  # float64 integers below this are exact, with a bit to spare
_MAX_OUTPUT = 1 << 20
# FixedConv buffers that freeze() derives from the float weights; `frac` and `out_absmax` are inputs
DERIVED_BUFFERS = ("qweight", "qbias", "mult", "shift")


def _pow2_ceil_exponent(value: float) -> int:
    """The smallest e with value <= 2**e (value > 0), exactly (frexp, no log2)."""
    mantissa, exponent = math.frexp(value)
    return exponent - 1 if mantissa == 0.5 else exponent


class FixedConv(nn.Module):
    """A Conv2d or ConvTranspose2d with an integer twin.

    Buffers: out_absmax (training range of the float output), and after freeze():
    qweight (int16, same shape as the weight), qbias (int64, C_out), mult (int64,
    C_out), shift (int64, C_out), frac (int64: [input frac bits, output frac bits])."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d):
        super().__init__()
        if not isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) or conv.groups != 1 or conv.dilation != (1, 1):
            raise TypeError("FixedConv wraps an ungrouped, undilated Conv2d or ConvTranspose2d")
        if conv.padding_mode != "zeros":
            raise TypeError("FixedConv needs zero padding")
        self.conv = conv
        self.register_buffer("out_absmax", torch.tensor(4.0))
        c_out = conv.out_channels
        self.register_buffer("qweight", torch.zeros(conv.weight.shape, dtype=torch.int16))
        self.register_buffer("qbias", torch.zeros(c_out, dtype=torch.int64))
        self.register_buffer("mult", torch.zeros(c_out, dtype=torch.int64))
        self.register_buffer("shift", torch.zeros(c_out, dtype=torch.int64))
        self.register_buffer("frac", torch.tensor([-1, -1], dtype=torch.int64))

    @property
    def frozen(self) -> bool:
        return int(self.frac[0]) >= 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.training:  # a slowly forgetting maximum: early outliers fade
            with torch.no_grad():
                self.out_absmax.copy_(torch.maximum(self.out_absmax * 0.999, y.detach().abs().amax().float()))
        return y

    def _fan_in_axis(self) -> int:
        return 1 if isinstance(self.conv, nn.ConvTranspose2d) else 0

    def freeze(self, in_frac: int, out_frac: int | None, in_bound: int) -> int:
        """Integer buffers for inputs with `in_frac` fractional bits and |X| <= in_bound.

        out_frac None: chosen from out_absmax so the output fills ACT_BITS. Returns
        the output's fractional bits."""
        w = self.conv.weight.detach().double().cpu()
        out_axis = self._fan_in_axis()  # ConvTranspose2d weights are (C_in, C_out, kh, kw)
        per_out = w.transpose(0, out_axis).reshape(w.shape[out_axis], -1)
        wmax = per_out.abs().amax(dim=1)
        limit = (1 << (WEIGHT_BITS - 1)) - 1
        wscale = torch.where(wmax > 0, wmax / limit, torch.ones_like(wmax))
        shape = [1] * w.dim()
        shape[out_axis] = -1
        qweight = torch.round(w / wscale.reshape(shape))
        if out_frac is None:
            absmax = float(self.out_absmax)
            absmax = absmax if math.isfinite(absmax) and absmax > 0 else 1.0
            out_frac = (ACT_BITS - 1) - _pow2_ceil_exponent(absmax)
        bias = self.conv.bias.detach().double().cpu() if self.conv.bias is not None else torch.zeros_like(wmax)
        qbias = torch.round(bias * 2.0 ** in_frac / wscale).clamp(-_EXACT, _EXACT)
        # real multiplier of the accumulator: 2**-in_frac * wscale * 2**out_frac = mult * 2**-shift
        real = wscale * 2.0 ** (out_frac - in_frac)
        mult, shift = [], []
        for r in real.tolist():
            s = MULT_BITS - _pow2_ceil_exponent(r)
            m = round(r * 2.0 ** s)
            if s < 1:  # a huge multiplier: keep it exact as an integer, no rounding shift
                m, s = round(r), 0
            mult.append(m)
            shift.append(s)
        # exactness: |acc| <= in_bound * sum|w| + |bias| must stay below 2**52, and acc * mult below 2**62
        per_out_q = qweight.transpose(0, out_axis).reshape(w.shape[out_axis], -1)
        acc_bound = in_bound * per_out_q.abs().sum(dim=1) + qbias.abs()
        if float(acc_bound.max()) >= _EXACT or float((acc_bound * torch.tensor(mult, dtype=torch.float64)).max()) >= 2.0**62:
            raise ValueError("this layer's integer accumulator could overflow; lower WEIGHT_BITS or the input bound")
        self.qweight.copy_(qweight.to(torch.int16))
        self.qbias.copy_(qbias.to(torch.int64))
        self.mult.copy_(torch.tensor(mult, dtype=torch.int64))
        self.shift.copy_(torch.tensor(shift, dtype=torch.int64))
        self.frac.copy_(torch.tensor([in_frac, out_frac], dtype=torch.int64))
        return out_frac

    def accumulate(self, x: torch.Tensor) -> torch.Tensor:
        """The exact integer accumulator (int64) of integer input x (int64)."""
        c = self.conv
        xd, wd = x.double(), self.qweight.to(x.device).double()
        with torch.backends.cudnn.flags(enabled=False):  # no FFT / Winograd: sums of products only
            if isinstance(c, nn.ConvTranspose2d):
                acc = F.conv_transpose2d(xd, wd, None, c.stride, c.padding, c.output_padding)
            else:
                acc = F.conv2d(xd, wd, None, c.stride, c.padding)
        return acc.to(torch.int64) + self.qbias.to(x.device).view(1, -1, 1, 1)

    def forward_int(self, x: torch.Tensor) -> torch.Tensor:
        acc = self.accumulate(x)
        mult = self.mult.to(x.device).view(1, -1, 1, 1)
        shift = self.shift.to(x.device).view(1, -1, 1, 1)
        half = torch.where(shift > 0, torch.ones_like(shift) << (shift - 1).clamp_min(0), torch.zeros_like(shift))
        return (acc * mult + half) >> shift


class IntegerNet(nn.Module):
    """A sequence of Conv2d / ConvTranspose2d / ReLU / PixelShuffle layers with an
    exact integer twin.

    forward(x: N x C_in x H x W float) -> float          (training)
    forward_int(X: int64, X = x * 2**in_frac_bits) -> int64, Y = y * 2**out_frac_bits
    """

    def __init__(self, *layers: nn.Module, in_frac_bits: int, out_frac_bits: int):
        super().__init__()
        wrapped = []
        for layer in layers:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                layer = FixedConv(layer)
            elif not isinstance(layer, (nn.ReLU, nn.PixelShuffle)):
                raise TypeError(f"IntegerNet supports Conv2d, ConvTranspose2d, ReLU and PixelShuffle, not {type(layer).__name__}")
            wrapped.append(layer)
        if not wrapped or not isinstance(wrapped[-1], FixedConv):
            raise ValueError("an IntegerNet ends with a convolution")
        self.layers = nn.Sequential(*wrapped)
        self.in_frac_bits, self.out_frac_bits = in_frac_bits, out_frac_bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @property
    def frozen(self) -> bool:
        return all(layer.frozen for layer in self.layers if isinstance(layer, FixedConv))

    def freeze(self) -> None:
        """Derive the integer buffers from the float weights and trained ranges."""
        convs = [layer for layer in self.layers if isinstance(layer, FixedConv)]
        frac, bound = self.in_frac_bits, MAX_ABS_INPUT
        for i, conv in enumerate(convs):
            last = i == len(convs) - 1
            frac = conv.freeze(frac, self.out_frac_bits if last else None, bound)
            bound = 1 << (ACT_BITS - 1)

    def forward_int(self, x: torch.Tensor) -> torch.Tensor:
        if not self.frozen:
            raise RuntimeError("IntegerNet.forward_int before freeze() (call the entropy model's update())")
        if x.dtype != torch.int64:
            raise TypeError("forward_int takes int64 fixed-point values")
        x = x.clamp(-MAX_ABS_INPUT, MAX_ABS_INPUT)
        act = 1 << (ACT_BITS - 1)
        convs = [i for i, layer in enumerate(self.layers) if isinstance(layer, FixedConv)]
        for i, layer in enumerate(self.layers):
            if isinstance(layer, FixedConv):
                x = layer.forward_int(x)
                x = x.clamp(-_MAX_OUTPUT, _MAX_OUTPUT) if i == convs[-1] else x.clamp(-act, act - 1)
            elif isinstance(layer, nn.ReLU):
                x = x.clamp_min(0)
            else:
                x = layer(x)
        return x


def to_fixed(x: torch.Tensor, frac_bits: int) -> torch.Tensor:
    """Float -> int64 fixed point (round half to even). Encoder side, and a video M frame's
    reference on both sides (codecs/video/model.py: parsing never depends on it)."""
    return torch.round(x.double() * 2.0 ** frac_bits).clamp(-MAX_ABS_INPUT, MAX_ABS_INPUT).to(torch.int64)


def from_fixed(x: torch.Tensor, frac_bits: int, dtype=torch.float32) -> torch.Tensor:
    """int64 fixed point -> float (exact for |x| < 2**24 in float32)."""
    return (x.double() * 2.0 ** -frac_bits).to(dtype)


def derived_buffer_names(model: nn.Module) -> set[str]:
    """State-dict names of the buffers freeze() derives, for every FixedConv in `model`."""
    return {f"{name}.{b}" for name, m in model.named_modules() if isinstance(m, FixedConv) for b in DERIVED_BUFFERS}


def freeze_integer_nets(model: nn.Module) -> int:
    """Freeze every IntegerNet in `model` from its float weights (after loading files that
    leave the derived buffers out). Returns how many nets were frozen."""
    nets = [m for m in model.modules() if isinstance(m, IntegerNet)]
    for net in nets:
        net.freeze()
    return len(nets)

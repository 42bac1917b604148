"""SwinV2 blocks on N x C x H x W feature maps (Liu et al., "Swin Transformer V2", 2022).

What makes them V2, all three kept:
  * scaled cosine attention: cos(q, k) * exp(logit_scale) per head (logit_scale <= log 100),
    so no attention logit grows with the features' norm;
  * log-spaced continuous position bias: a small MLP maps each relative offset,
    sign(d) * log2(1 + |d|) (normalised), to a bias per head (16 * sigmoid);
  * res-post-norm: x + LayerNorm(attention(x)), x + LayerNorm(MLP(x)), the norms' gains
    starting at zero (each block starts as the identity).

Windows are WINDOW x WINDOW tokens; every second block shifts them by half a
window. Any H x W works: the map is zero-padded to whole windows and padded
tokens are masked out of every real token's attention (so they change nothing).

    ResidualSwinStage(dim, depth, heads)(x)   x: N x dim x H x W -> same shape
        = x + conv3x3(blocks(x))                (a residual SwinV2 transformer block)
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

WINDOW = 8
MASKED = -100.0  # added to masked attention logits (cosine logits are <= 100 in size)


def _relative_table(window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """((2w-1)^2 x 2 log-spaced offsets, w^2 x w^2 index into them)."""
    d = torch.arange(-(window - 1), window, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(d, d, indexing="ij"), dim=-1).reshape(-1, 2)
    table = table / max(window - 1, 1) * 8  # offsets in [-8, 8] ...
    table = torch.sign(table) * torch.log2(table.abs() + 1) / math.log2(8)  # ... log-spaced
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return table, rel[..., 0] * (2 * window - 1) + rel[..., 1]


class WindowAttentionV2(nn.Module):
    """Multi-head scaled cosine attention inside windows: (B x T x C) -> (B x T x C), T = w^2."""

    def __init__(self, dim: int, heads: int, window: int = WINDOW):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.full((heads, 1, 1), math.log(10.0)))
        self.cpb = nn.Sequential(nn.Linear(2, 256), nn.ReLU(inplace=True), nn.Linear(256, heads, bias=False))
        table, index = _relative_table(window)  # fixed: buffers (follow .to(device)), not saved
        self.register_buffer("cpb_table", table.clone(), persistent=False)
        self.register_buffer("cpb_index", index.reshape(-1).clone(), persistent=False)

    def position_bias(self) -> torch.Tensor:
        bias = self.cpb(self.cpb_table)[self.cpb_index]  # T*T x heads
        t = self.window * self.window
        return 16 * torch.sigmoid(bias.reshape(t, t, self.heads).permute(2, 0, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        scale = torch.exp(self.logit_scale.clamp(max=math.log(100.0)))  # heads x 1 x 1
        q = F.normalize(q, dim=-1) * scale  # cos(q, k) * scale = (q/|q| * scale) . k/|k|
        bias = self.position_bias().to(q.dtype)  # heads x T x T
        if mask is not None:  # + windows x T x T, the same for every image of the batch
            bias = (bias[None] + mask[:, None].to(q.dtype)).repeat(b // mask.shape[0], 1, 1, 1)
        # the fused kernel (flash / memory-efficient attention on CPU and GPU): no T x T matrix kept
        out = F.scaled_dot_product_attention(q, F.normalize(k, dim=-1), v, attn_mask=bias, scale=1.0)
        return self.proj(out.transpose(1, 2).reshape(b, t, c))


@lru_cache(maxsize=64)
def _window_mask(height: int, width: int, window: int, shift: int, device: str = "cpu") -> torch.Tensor:
    """windows x T x T additive mask: tokens attend only within their region of the
    shifted map, and never to the padding (labels differ -> MASKED)."""
    hp, wp = -(-height // window) * window, -(-width // window) * window
    pad = torch.zeros(hp, wp)  # padding, in the map's own frame ...
    pad[height:, :] = 1
    pad[:, width:] = 1
    label = torch.roll(pad, (-shift, -shift), (0, 1)) * 16 if shift else pad * 16  # ... then rolled like it
    if shift:  # the regions of the rolled map that were not neighbours before the roll
        cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
        n = 0
        for hs in cuts:
            for ws in cuts:
                label[hs, ws] += n
                n += 1
    wins = label.reshape(hp // window, window, wp // window, window).permute(0, 2, 1, 3).reshape(-1, window * window)
    # built once per shape and device: a host-to-device copy in every block would stall the GPU
    return ((wins[:, :, None] != wins[:, None, :]).float() * MASKED).to(device)


class SwinV2Block(nn.Module):
    """x: N x H x W x C -> same (res-post-norm attention, then res-post-norm MLP)."""

    def __init__(self, dim: int, heads: int, shift: bool, mlp_ratio: float = 2.0, window: int = WINDOW):
        super().__init__()
        self.window, self.shift = window, window // 2 if shift else 0
        self.attn = WindowAttentionV2(dim, heads, window)
        self.norm1 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm2 = nn.LayerNorm(dim)
        # res-post-norm starts at zero gain, as SwinV2's own initialisation does: a new block is
        # the identity instead of adding unit-variance noise to every token of its input
        nn.init.zeros_(self.norm1.weight)
        nn.init.zeros_(self.norm2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        ws, s = self.window, self.shift
        hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
        shifted = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
        if s:
            shifted = torch.roll(shifted, (-s, -s), (1, 2))
        wins = shifted.reshape(n, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        mask = _window_mask(h, w, ws, s, str(x.device)) if (s or hp != h or wp != w) else None
        out = self.attn(wins, mask)
        out = out.reshape(n, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(n, hp, wp, c)
        if s:
            out = torch.roll(out, (s, s), (1, 2))
        x = x + self.norm1(out[:, :h, :w])
        return x + self.norm2(self.mlp(x))


class ResidualSwinStage(nn.Module):
    """x: N x dim x H x W -> x + conv3x3(SwinV2 blocks(x)); blocks alternate unshifted / shifted."""

    def __init__(self, dim: int, depth: int, heads: int | None = None, mlp_ratio: float = 2.0):
        super().__init__()
        heads = heads or max(1, dim // 32)
        self.blocks = nn.ModuleList(SwinV2Block(dim, heads, shift=bool(i % 2), mlp_ratio=mlp_ratio) for i in range(depth))
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(0, 2, 3, 1)
        for block in self.blocks:
            t = block(t)
        # back in x's own layout: a channels_last x (training) costs no copy here
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        return x + self.conv(t.permute(0, 3, 1, 2).contiguous(memory_format=layout))


class DenseEnhancement(nn.Module):
    """Dense-block feature enhancement: `layers` 3x3 convs, each seeing every earlier
    output (growth channels each), fused by a 1x1 conv, added to the input.
    x: N x dim x H x W -> same shape."""

    def __init__(self, dim: int, growth: int = 32, layers: int = 4):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(dim + i * growth, growth, 3, padding=1) for i in range(layers))
        self.fuse = nn.Conv2d(dim + layers * growth, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():  # training: autograd keeps every layer's input anyway
            feats = [x]
            for conv in self.convs:
                feats.append(F.leaky_relu(conv(torch.cat(feats, dim=1)), 0.2))
            return x + self.fuse(torch.cat(feats, dim=1))
        # inference: one buffer that each layer writes its channels into and the next reads a
        # prefix of, instead of a growing concatenation per layer (at full resolution these
        # dominate a large image's memory)
        n, c, h, w = x.shape
        growth = self.convs[0].out_channels
        buf = x.new_empty(n, c + len(self.convs) * growth, h, w)
        buf[:, :c] = x
        for i, conv in enumerate(self.convs):
            end = c + i * growth
            buf[:, end:end + growth] = F.leaky_relu(conv(buf[:, :end]), 0.2)
        return x + self.fuse(buf)

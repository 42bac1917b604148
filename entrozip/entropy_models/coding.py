"""The coding path of CompressAI-style entropy models, on entrozip's coder.

CompressAI's entropy models keep their quantised CDF tables as integer buffers
(`_quantized_cdf`, `_cdf_length`, `_offset`), built once by `update()` and saved
in the state dict, so a decoder never rebuilds them from floats. This mixin
replaces `compress` / `decompress` (and only them): symbols and CDF indexes go
to `entrozip.rans` as tensors, one stream per batch item, instead of Python
lists to `compressai.ans`. The training path (forward, likelihoods, aux loss) is
CompressAI's, unchanged.
"""
from __future__ import annotations

import numpy as np
import torch
from .._compressai import EntropyModel

from .. import rans


class EntrozipCoding(EntropyModel):
    """Mixin placed after a CompressAI entropy model in the bases (see factorized.py)."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Tables (and the scale table) come in whatever size they were built: resize
        the buffers first, so a fresh model loads a trained one's tables without update()."""
        for name, buf in self._buffers.items():
            incoming = state_dict.get(prefix + name)
            if buf is not None and incoming is not None and buf.shape != incoming.shape:
                buf.resize_(incoming.shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _coding_model(self) -> rans.IndexedModel:
        """The IndexedModel of the current tables (rebuilt only when they change)."""
        self._check_cdf_size()
        self._check_cdf_length()
        self._check_offsets_size()
        key = (self._quantized_cdf.data_ptr(), self._quantized_cdf._version, self._cdf_length._version,
               self._offset._version, tuple(self._quantized_cdf.shape))
        cached = getattr(self, "_entrozip_cache", None)
        if cached is None or cached[0] != key:
            model = rans.IndexedModel(self._quantized_cdf.cpu(), self._cdf_length.cpu(), self._offset.cpu(),
                                      precision=16)
            self._entrozip_cache = cached = (key, model)
        return cached[1]

    def compress(self, inputs: torch.Tensor, indexes: torch.Tensor, means=None) -> list[bytes]:
        """One rANS stream per batch item of `inputs` (N x ...), coded with `indexes`."""
        if inputs.dim() < 2:
            raise ValueError("inputs need a batch dimension and at least one more")
        if inputs.size() != indexes.size():
            raise ValueError("inputs and indexes must have the same size")
        symbols = self.quantize(inputs, "symbols", means).to(torch.int32).cpu()
        idx = indexes.to(torch.int32).cpu()
        model = self._coding_model()
        return [rans.encode(symbols[i].reshape(-1), model, idx[i].reshape(-1)) for i in range(symbols.size(0))]

    def decompress(self, strings, indexes: torch.Tensor, dtype=torch.float, means=None) -> torch.Tensor:
        """The dequantised tensor (indexes' size) from `compress`'s streams."""
        if len(strings) != indexes.size(0):
            raise ValueError("one stream per batch item of indexes is needed")
        model = self._coding_model()
        idx = indexes.to(torch.int32).cpu()
        out = np.stack([rans.decode(s, model, idx[i].reshape(-1)) for i, s in enumerate(strings)])
        values = torch.from_numpy(out).reshape(indexes.shape).to(indexes.device)
        return self.dequantize(values, means, dtype)

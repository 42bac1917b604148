"""The 4DGS codec (splat4d): the HexPlane field, the plane coder, the footprint, the codec's
bounds and determinism, scene folders, the CLI, and clean rejection of bad input."""
import json
import subprocess
import sys
from dataclasses import replace
import numpy as np
import pytest
import torch

from entrozip.codecs.splat import gs3d, gs4d, planes
from entrozip.codecs.splat.codec4d import Splat4DCodec
from entrozip.codecs.splat.deform import PAIRS, DeformationField, FieldConfig
from entrozip.codecs.splat.scene4d import Scene4D
from entrozip.container import pack, parse
from entrozip.entropy_models import semistatic as ss
from entrozip.errors import FormatError
from entrozip.eval.splat4d import animate
from entrozip.train.splat4d import fit_field
from test_splat import make_cloud

SMALL = FieldConfig(channels=4, resolution=8, time_resolution=5, multires=(1, 2), width=16)


def make_scene(n=800, seed=0, config=SMALL) -> Scene4D:
    """A scene whose field moves things: planes smooth + noisy, MLP at its initial values x 30."""
    cloud = make_cloud(n, degree=1, seed=seed)
    field = DeformationField(config, np.stack([cloud.means.min(0) - 0.01, cloud.means.max(0) + 0.01]), seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in field.planes:
            p.add_(0.2 * torch.randn(p.shape, generator=g))
        for head in field.heads.values():
            head[-1].weight.mul_(30)
    return Scene4D(cloud, field)


# ---------------------------------------------------------------- the field


def test_field_shapes_and_a_new_field_moves_nothing():
    cloud = make_cloud(200)
    field = DeformationField(SMALL, np.stack([cloud.means.min(0), cloud.means.max(0)]))
    assert field.plane(1, 0).shape == (4, 16, 16) and field.plane(1, 3).shape == (4, 5, 16)
    with torch.no_grad():
        out = field(torch.from_numpy(cloud.means), 0.3)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"dx": (200, 3), "ds": (200, 3), "dq": (200, 4)}
    assert field.features(torch.from_numpy(cloud.means), 0.5).shape == (200, 8)
    assert max(float(v.abs().max()) for v in out.values()) < 1e-2  # heads' last layers start near zero
    with pytest.raises(ValueError, match="bounds"):
        DeformationField(SMALL, [[0, 0, 0], [1, 0, 1]])
    with pytest.raises(ValueError, match="config"):
        FieldConfig(channels=0)
    with pytest.raises(ValueError, match="more than"):
        FieldConfig(channels=64, resolution=4096)


def test_time_planes_start_at_one_so_a_static_field_is_time_invariant():
    scene = make_scene()
    with torch.no_grad():
        for s in range(2):
            for p, (_, b) in enumerate(PAIRS):
                if b == 3:
                    scene.field.plane(s, p).fill_(1.0)
    x = torch.from_numpy(scene.canonical.means)
    with torch.no_grad():
        a, b = scene.field(x, 0.1), scene.field(x, 0.8)
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)  # bilinear weights of ones: 1 +- ulp


def test_fit_field_learns_a_motion():
    cloud = make_cloud(600, degree=0, seed=3)
    times = np.linspace(0, 1, 6, endpoint=False)
    targets = animate(cloud, times, twist=0.8, wave=0.1)
    motion = float(np.sqrt((targets["dx"] ** 2).sum(-1).mean()))
    scene, log = fit_field(cloud, times, targets, SMALL, steps=300, batch=2048, progress=False)
    moved = np.array([scene.at(t).means - cloud.means for t in times])
    err = float(np.sqrt(((moved - targets["dx"]) ** 2).sum(-1).mean()))
    assert motion > 0.05 and err < 0.6 * motion, (motion, err)  # a 4-channel, 8-cell field after 300 steps
    with pytest.raises(ValueError, match="T x N x 3"):
        fit_field(cloud, times[:3], targets, SMALL, steps=1, progress=False)


def test_animate_moves_orientation_with_the_surface():
    cloud = make_cloud(300, degree=0)
    tg = animate(cloud, [0.0, 0.25])
    assert not tg["dx"][0][:, :2].any() and tg["dx"][0][:, 2].any()  # at t = 0 no twist, only the wave
    q = cloud.quats + tg["dq"][1]
    assert np.allclose(np.linalg.norm(q, axis=1), np.linalg.norm(cloud.quats, axis=1), rtol=1e-4)  # a rotation


# ---------------------------------------------------------------- the plane coder


def smooth_plane(c, h, w, seed, level=40):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(x / (3 + k) + k) * np.cos(y / (4 + k)) for k in range(c)]) * level
    return np.round(base + rng.normal(0, 1, (c, h, w))).astype(np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plane_coder_round_trips_on_any_footprint(seed):
    rng = np.random.default_rng(seed)
    shapes = [(3, 17, 17), (3, 5, 33), (2, 1, 9), (1, 2, 2), (2, 40, 7)]
    values = [rng.integers(-1000, 1000, s) for s in shapes]
    values[0] = smooth_plane(3, 17, 17, seed)
    masks = [rng.random(s[1:]) < f for s, f in zip(shapes, (0.7, 1.0, 0.5, 0.0, 0.3))]
    ints = [np.where(m, v, 0) for v, m in zip(values, masks)]
    kinds = [False, True, False, True, False]
    streams = planes.encode(ints, masks, kinds)
    back = planes.decode(streams, shapes, masks, kinds)
    for a, b in zip(ints, back):
        assert np.array_equal(a, b)
    extreme = [np.full((1, 3, 3), planes.MAX_LEVEL), np.full((1, 3, 3), -planes.MAX_LEVEL)]
    m = [np.ones((3, 3), bool)] * 2
    assert all(np.array_equal(a, b) for a, b in zip(extreme, planes.decode(planes.encode(extreme, m, [0, 1]),
                                                                           [(1, 3, 3)] * 2, m, [0, 1])))
    with pytest.raises(ValueError, match="MAX|<="):
        planes.encode([np.full((1, 2, 2), planes.MAX_LEVEL + 1)], [np.ones((2, 2), bool)], [False])


def test_plane_coder_predicts_smooth_planes():
    """Intra prediction + contexts beat the same integers coded order 0 by a wide margin."""
    ints = [smooth_plane(8, 64, 64, s) for s in range(3)]
    masks = [np.ones((64, 64), bool)] * 3
    coded = sum(len(s) for s in planes.encode(ints, masks, [False] * 3))
    order0 = len(ss.encode_ints(np.concatenate([q.ravel() for q in ints])))
    assert coded < 0.5 * order0, (coded, order0)


def test_plane_coder_passes_cover_every_cell_once():
    for h, w in ((1, 1), (2, 9), (17, 33), (64, 5)):
        top = planes.top_stride([(1, h, w)])
        count = sum(planes.pass_cells(k, s, h, w).astype(int) for k, s in planes.passes(top))
        assert (count == 1).all(), (h, w)


def test_plane_coder_rejects_bad_streams():
    ints = [smooth_plane(2, 9, 9, 0)]
    masks = [np.ones((9, 9), bool)]
    streams = planes.encode(ints, masks, [False])
    with pytest.raises(FormatError, match="streams"):
        planes.decode(streams[:-1], [(2, 9, 9)], masks, [False])
    with pytest.raises(FormatError):  # a pass stream holding another pass's symbols
        planes.decode([streams[0]] + streams[1:][::-1], [(2, 9, 9)], masks, [False])


# ---------------------------------------------------------------- footprint


def test_cells_off_the_footprint_are_never_read():
    scene = make_scene(500, seed=4)
    f = scene.field
    masks = gs4d.footprint(f.config, f.bounds.numpy(), scene.canonical.means)
    assert 0 < sum(m.sum() for m in masks) < sum(m.size for m in masks)
    x = torch.from_numpy(scene.canonical.means)
    before = [f(x, t) for t in (0.0, 0.37, 1.0)]
    with torch.no_grad():
        for k, m in enumerate(masks):
            f.plane(k // 6, k % 6)[:, torch.from_numpy(~m)] = 1e6
    after = [f(x, t) for t in (0.0, 0.37, 1.0)]
    assert all(torch.equal(a[k], b[k]) for a, b in zip(before, after) for k in a)
    with torch.no_grad():  # and cells on it are read
        f.plane(0, 0)[:, torch.from_numpy(masks[0])] += 1
    assert not torch.equal(f(x, 0.5)["dx"], before[1]["dx"])


# ---------------------------------------------------------------- the codec


@pytest.mark.parametrize("quality", [1, 4, 6])
def test_codec_round_trip_bounds(quality):
    scene = make_scene(seed=quality)
    codec = Splat4DCodec(quality=quality)
    blob, kept = codec.compress_scene(scene)
    out = codec.decompress(blob)
    preset = gs4d.PRESETS[quality]
    assert len(out) == len(scene) - int(round(preset.prune * len(scene)))
    header = parse(blob).header
    masks = gs4d.footprint(out.field.config, out.field.bounds.numpy(), out.canonical.means)
    for k, (m, step) in enumerate(zip(masks, header["plane_steps"])):
        src = scene.field.plane(k // 6, k % 6).detach().numpy()
        dec = out.field.plane(k // 6, k % 6).detach().numpy()
        assert np.abs(dec - src)[:, m].max() <= step / 2 * (1 + 1e-5) + 1e-7
        assert not dec[:, ~m].any()
    for (name, a), step in zip(scene.field.mlp_arrays().items(), header["mlp_steps"]):
        assert np.abs(out.field.mlp_arrays()[name] - a).max() <= step / 2 * (1 + 1e-5) + 1e-7, name
    # at the decoded centres, the decoded field moves them as the source field does (its MLP's
    # steps dominate: ~9 % of the motion at quality 1, ~1 % at 6, on this deliberately rough field)
    x = torch.from_numpy(out.canonical.means)
    with torch.no_grad():
        for t in (0.0, 0.5, 1.0):
            want, got = scene.field(x, t)["dx"], out.field(x, t)["dx"]
            assert (got - want).pow(2).mean().sqrt() < 0.12 * want.pow(2).mean().sqrt()
    assert codec.compress(scene) == blob  # deterministic
    assert Splat4DCodec.describe(parse(blob))["ratio_vs_raw"] > 3


def _choice(scene, quality=3):
    return parse(Splat4DCodec(quality=quality).compress(scene)).header["field_choice"]


def test_field_steps_are_the_coarsest_within_the_error_budget():
    scene = make_scene(600, seed=11)
    fc = _choice(scene)
    rel = fc["rel_step"]
    assert rel in gs4d.REL_STEPS
    assert np.all(np.array(fc["errors"]) <= fc["allowed"]) or rel == gs4d.REL_STEPS[-1]
    if rel != gs4d.REL_STEPS[0]:  # the next coarser step breaks the budget
        preset = gs4d.PRESETS[3]
        kept = gs4d.prune(scene, preset.prune)
        base = gs3d.PRESETS[preset.canonical]
        h, sec, order = gs3d.encode(scene.canonical.take(kept), replace(base, prune=0.0))
        decoded, source = gs3d.decode(h, dict(sec)), scene.canonical.take(kept[order])
        f = scene.field
        masks = gs4d.footprint(f.config, f.bounds.numpy(), decoded.means)
        values = [f.plane(s, p).detach().numpy() for s in range(2) for p in range(6)]
        tensors = f.mlp_arrays()
        coarser = 2 * rel
        approx = DeformationField.from_arrays(f.config, f.bounds.numpy(), gs4d._quantised(
            f.config.plane_keys(), values, masks, gs4d._steps(values, masks, coarser), tensors,
            gs4d._mlp_steps(tensors, coarser / gs4d.MLP_FINER)))
        assert (gs4d.field_errors(f, approx, decoded.means) > fc["allowed"]).any()


def test_a_scene_that_moves_more_gets_a_finer_field():
    still, moving = make_scene(600, seed=12), make_scene(600, seed=12)
    with torch.no_grad():
        for a, b in zip(still.field.heads.values(), moving.field.heads.values()):
            a[-1].weight.mul_(0.1)
            b[-1].weight.mul_(100)
    assert _choice(moving)["rel_step"] < _choice(still)["rel_step"]


def test_spatio_temporal_pruning_keeps_what_grows_at_some_instant():
    scene = make_scene(400, seed=7)
    still = gs3d.significance(scene.at(0.0))
    smallest = np.argsort(still, kind="stable")[:40]

    class Growing(Scene4D):  # those 40 become the largest Gaussians late in the clip
        def at(self, t):
            c = super().at(t)
            if t > 0.8:
                c.log_scales[smallest] += 5
            return c

    grows = Growing(scene.canonical, scene.field)
    per_time = np.array([gs3d.significance(grows.at(t)) for t in np.linspace(0, 1, gs4d.TIMES)])
    assert np.array_equal(gs4d.significance(grows), per_time.max(0))
    kept = gs4d.prune(grows, 0.25)
    assert len(kept) == 300 and set(smallest.tolist()) <= set(kept.tolist())
    assert not set(smallest.tolist()) & set(gs4d.prune(scene, 0.25).tolist())  # static: they go first


def test_bad_input_gets_one_clear_error():
    scene = make_scene(300)
    codec = Splat4DCodec(quality=2)
    blob = codec.compress(scene)
    with pytest.raises(FormatError):
        codec.decompress(blob[:len(blob) // 2])
    damaged = bytearray(blob)
    damaged[len(blob) // 2] ^= 0x40
    with pytest.raises(FormatError):
        codec.decompress(bytes(damaged))
    c = parse(blob)
    sections = [(k, bytes(v)) for k, v in c.sections.items()]

    def with_header(**changes):
        h = json.loads(json.dumps(c.header)) | changes
        return pack("splat4d", h, sections)

    bad = {"plane_steps": [-1.0] * 12, "mlp_steps": [0.0] * 8,
           "field": c.header["field"] | {"config": c.header["field"]["config"] | {"resolution": 1 << 20}},
           "canonical": "none"}
    for key, value in bad.items():
        with pytest.raises(FormatError):
            codec.decompress(with_header(**{key: value}))
    with pytest.raises(FormatError, match="lacks"):
        codec.decompress(pack("splat4d", c.header, [s for s in sections if s[0] != "mlp"]))
    with pytest.raises(FormatError, match="not a 4DGS"):
        codec.decompress(pack("splat", c.header, sections))
    with torch.no_grad():
        scene.field.plane(0, 2)[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        codec.compress(scene)
    with pytest.raises(ValueError, match="quality"):
        Splat4DCodec(quality=7)


def test_scene_folder_round_trip_and_cli(tmp_path):
    scene = make_scene(300, seed=5)
    scene.write(tmp_path / "scene")
    back = Scene4D.read(tmp_path / "scene")
    assert all(np.array_equal(a, b) for a, b in zip(scene.field.arrays().values(), back.field.arrays().values()))
    assert np.array_equal(back.canonical.means, scene.canonical.means)

    run = lambda *a: subprocess.run([sys.executable, "-m", "entrozip.cli", *a], capture_output=True, text=True)  # noqa: E731
    r = run("compress", str(tmp_path / "scene"), str(tmp_path / "s.ezc"), "--quality", "2")
    assert r.returncode == 0 and "splat4d" in r.stdout, r.stderr
    r = run("info", str(tmp_path / "s.ezc"))
    assert r.returncode == 0 and "ratio_vs_raw" in r.stdout
    r = run("decompress", str(tmp_path / "s.ezc"), str(tmp_path / "back"))
    assert r.returncode == 0, r.stderr
    decoded = Scene4D.read(tmp_path / "back")
    assert len(decoded) == len(Splat4DCodec(quality=2).decompress((tmp_path / "s.ezc").read_bytes()))
    r = run("eval", "splat4d", "--scene", str(tmp_path / "scene"), "--out", str(tmp_path / "ev"), "--qualities", "1,6",
            "--times", "2", "--views", "1", "--size", "32")
    assert r.returncode == 0, r.stderr
    records = json.loads((tmp_path / "ev" / "splat4d.json").read_text())["records"]
    assert [x["quality"] for x in records] == [1, 6] and records[0]["bytes"] < records[1]["bytes"]
    assert records[1]["psnr"] > 30
    r = run("decompress", str(tmp_path / "s.ezc"), "-")
    assert r.returncode == 2 and "folder" in r.stderr
    (tmp_path / "scene" / "deformation.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(FormatError, match="deformation"):
        Scene4D.read(tmp_path / "scene")
    r = run("compress", str(tmp_path / "scene"), str(tmp_path / "t.ezc"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1

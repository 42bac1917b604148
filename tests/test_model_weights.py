"""Shipped and exported learned-model weights: DFloat11-coded safetensors that leave out
what the integer networks derive from the float weights; loading derives it again bit for
bit, and refuses damaged or foreign files."""
import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402

from entrozip import FormatError  # noqa: E402
from entrozip.codecs.image import weights as image_weights  # noqa: E402
from entrozip.codecs.video import weights as video_weights  # noqa: E402
from entrozip.codecs.weights import dfloat11  # noqa: E402
from entrozip.entropy_models.integer import derived_buffer_names  # noqa: E402


def _state(folder, entry):
    return {k: v for f in entry["files"] for k, v in image_weights.read_weights_file(folder / f).items()}


def _keys(folder, entry):
    assert all(dfloat11.is_compressed_file(folder / f) for f in entry["files"])
    return set(_state(folder, entry))


def test_shipped_files_hold_no_derived_buffers_and_load_to_their_ids():
    for name, entry in image_weights.manifest().items():
        model, wid, _ = image_weights.load_model(name)
        assert wid == entry["weights_id"]
        keys = _keys(image_weights.WEIGHTS_DIR, entry)
        assert not keys & derived_buffer_names(model)
        assert all(model.state_dict()[k].abs().sum() > 0 for k in derived_buffer_names(model) if k.endswith("mult"))
    entry = video_weights.manifest().get(video_weights.NAME)
    if entry:
        video, wid, _ = video_weights.load_video_model()
        assert wid == entry["weights_id"]
        assert not _keys(video_weights.WEIGHTS_DIR, entry) & derived_buffer_names(video)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("w")
    model = image_weights.initial_model("mbt2018-mean")
    with torch.no_grad():
        model.log_gain.add_(0.25)
    entry = image_weights.export_weights(model, "mbt2018-mean", folder, {"model": "mbt2018-mean", "trained": True})
    reference = image_weights.initial_model("mbt2018-mean")
    image_weights.load_weights(reference, [folder / f for f in entry["files"]])
    return folder, entry, reference


def test_export_leaves_derived_buffers_out_and_loading_rebuilds_them(exported):
    folder, entry, loaded = exported
    keys = _keys(folder, entry)
    derived = derived_buffer_names(loaded)
    assert derived and not keys & derived
    assert keys | derived == set(loaded.state_dict())
    loaded.eval()
    loaded.update(force=False)  # tables come from the file, integer nets were frozen on load
    assert image_weights.weights_id(loaded) == entry["weights_id"]
    # files that still carry the derived buffers (the earlier export) load to the same model
    full = _state(folder, entry)  # and as plain safetensors: they load too
    full.update({k: loaded.state_dict()[k] for k in derived})
    save_file(full, str(folder / "full.safetensors"))
    again = image_weights.initial_model("mbt2018-mean")
    image_weights.load_weights(again, [folder / "full.safetensors"])
    again.eval()
    again.update(force=False)
    assert image_weights.weights_id(again) == entry["weights_id"]


def test_incomplete_or_foreign_files_are_refused(exported, tmp_path):
    folder, entry, _ = exported
    state = _state(folder, entry)
    param = next(k for k in state if k.endswith(".weight"))
    save_file({k: v for k, v in state.items() if k != param}, str(tmp_path / "missing.safetensors"))
    with pytest.raises(FormatError, match="missing"):
        image_weights.load_weights(image_weights.initial_model("mbt2018-mean"), [tmp_path / "missing.safetensors"])
    save_file({**state, "extra.weight": torch.zeros(2)}, str(tmp_path / "extra.safetensors"))
    with pytest.raises(FormatError, match="unexpected"):
        image_weights.load_weights(image_weights.initial_model("mbt2018-mean"), [tmp_path / "extra.safetensors"])


def test_damaged_weights_file_is_refused(exported, tmp_path):
    folder, entry, _ = exported
    data = bytearray((folder / entry["files"][0]).read_bytes())
    data[len(data) - 3000] ^= 0x10  # inside the coded tensors
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(FormatError):
        image_weights.load_weights(image_weights.initial_model("mbt2018-mean"), [tmp_path / "bad.safetensors"])
    (tmp_path / "short.safetensors").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(FormatError):
        image_weights.load_weights(image_weights.initial_model("mbt2018-mean"), [tmp_path / "short.safetensors"])

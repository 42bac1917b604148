"""Committed streams of format v1 keep decoding, and today's encoder still writes them."""
from pathlib import Path

import numpy as np
import pytest
from golden_cases import BYTES_TEXT, IMAGE_MODELS, IMAGE_QUALITY, image_case, image_latent_digest, rans_cases

from entrozip import open_codec, rans

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", sorted(rans_cases()))
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_rans_golden_decodes(name, backend):
    symbols, model, indexes, _ = rans_cases()[name]
    blob = (GOLDEN / name).read_bytes()
    np.testing.assert_array_equal(rans.decode(blob, model, indexes, backend=backend), symbols)


@pytest.mark.parametrize("name", sorted(rans_cases()))
def test_rans_encoder_is_stable(name):
    symbols, model, indexes, kwargs = rans_cases()[name]
    assert rans.encode(symbols, model, indexes, **kwargs) == (GOLDEN / name).read_bytes()


def test_golden_streams_cover_the_format():
    infos = {name: rans.stream_info((GOLDEN / name).read_bytes()) for name in rans_cases()}
    assert infos["rans_v1_static.bin"].num_chunks == 5
    assert infos["rans_v1_indexed.bin"].num_chunks == 8
    assert infos["rans_v1_indexed_auto.bin"].lanes < 32


def test_container_golden():
    blob = (GOLDEN / "bytes_v1.ezc").read_bytes()
    assert open_codec("bytes").decompress(blob) == BYTES_TEXT
    assert open_codec("bytes", block_size=1024).compress(BYTES_TEXT) == blob


@pytest.mark.parametrize("model_name", IMAGE_MODELS)
def test_image_golden(model_name):
    """The committed image file decodes to the same latent (exactly) and pixels (within one
    level: the synthesis transform is float), and today's encoder, rounding to nearest as
    the encoder that wrote it did (rdoq=0; elic now rounds RD-optimised by default), writes
    the same bytes."""
    import json

    from PIL import Image

    blob = (GOLDEN / f"image_v1_{model_name}.ezc").read_bytes()
    digests = json.loads((GOLDEN / "image_v1_latents.json").read_text())
    assert image_latent_digest(blob) == digests[model_name]
    codec = open_codec("image", model=model_name, quality=IMAGE_QUALITY, threads=1)
    expected = np.asarray(Image.open(GOLDEN / f"image_v1_{model_name}.png")).astype(int)
    assert np.abs(codec.decompress(blob).astype(int) - expected).max() <= 1
    plain = open_codec("image", model=model_name, quality=IMAGE_QUALITY, threads=1, rdoq=0)
    assert plain.compress(image_case()) == blob

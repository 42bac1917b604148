"""IndexedModel takes CompressAI's GaussianConditional tables as they are and codes
the same values, escapes included (CompressAI clamps nothing either)."""
import numpy as np
import pytest

from entrozip import rans

compressai = pytest.importorskip("compressai")
torch = pytest.importorskip("torch")


def test_gaussian_conditional_tables_round_trip_like_compressai():
    from compressai.ans import RansDecoder, RansEncoder
    from compressai.entropy_models import GaussianConditional
    from compressai.models.google import get_scale_table

    gc = GaussianConditional(None)
    gc.update_scale_table(get_scale_table())
    gc.update()
    cdfs, lengths, offsets = gc._quantized_cdf, gc._cdf_length, gc._offset
    model = rans.IndexedModel(cdfs, lengths, offsets)  # torch tensors, as CompressAI keeps them

    rng = np.random.default_rng(0)
    n = 20_000
    scales = torch.from_numpy(np.exp(rng.uniform(np.log(0.11), np.log(64), n)).astype(np.float32))
    indexes = gc.build_indexes(scales).to(torch.int32)
    values = torch.from_numpy(np.round(rng.normal(0, 2.5 * scales.numpy())).astype(np.int32))  # tails escape
    values[::1000] = 5000
    values[500::1000] = -70000

    ours = rans.decode(rans.encode(values, model, indexes), model, indexes)
    args = (indexes.tolist(), cdfs.tolist(), lengths.tolist(), offsets.tolist())
    theirs = RansDecoder().decode_with_indexes(RansEncoder().encode_with_indexes(values.tolist(), *args), *args)
    np.testing.assert_array_equal(ours, values.numpy())
    assert theirs == values.tolist()
    k, escaped, _ = model.coded_indexes(values, indexes)
    assert escaped.sum() > 40  # the escape path really ran

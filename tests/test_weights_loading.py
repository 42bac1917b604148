"""Compressed directories load into transformers with bit-identical outputs (CPU path)."""
from pathlib import Path

import pytest
from conftest import minilm_bf16_dir, save_llama

from entrozip import FormatError, weights

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from safetensors.torch import load_file, save_file  # noqa: E402

from entrozip.codecs.weights.embedding import CompressedEmbedding  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"


def test_minilm_bf16(tmp_path):
    src, _ = minilm_bf16_dir(tmp_path / "bf16")
    weights.compress(src, tmp_path / "df11", progress=False)
    ours = weights.from_pretrained(tmp_path / "df11")
    ref = transformers.AutoModel.from_pretrained(str(src), dtype=torch.bfloat16).eval()
    ids = torch.randint(0, 30000, (2, 24), generator=torch.Generator().manual_seed(0))
    kept = weights.from_pretrained(tmp_path / "df11", keep_compressed=True)  # word, position, type embeddings
    assert kept._entrozip_compressed["lookups"] >= 1
    with torch.no_grad():
        want = ref(input_ids=ids).last_hidden_state
        assert torch.equal(ours(input_ids=ids).last_hidden_state, want)
        assert torch.equal(kept(input_ids=ids).last_hidden_state, want)


def test_llama_shaped_causal_lm(tmp_path):
    """A causal LM from a LlamaConfig with random bf16 weights: same logits after DF11."""
    src = save_llama(tmp_path / "bf16", vocab_size=4000, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                     num_attention_heads=8, num_key_value_heads=4)
    transformers.GenerationConfig(eos_token_id=[3, 7], max_new_tokens=9, repetition_penalty=1.3).save_pretrained(src)
    weights.compress(src, tmp_path / "df11", progress=False)
    ours = weights.from_pretrained(tmp_path / "df11")
    # the reference: the uncompressed directory loaded the standard way
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.bfloat16).eval()
    assert ours.generation_config.to_dict() == ref.generation_config.to_dict()  # the checkpoint's defaults
    assert ours.generation_config.repetition_penalty == 1.3
    sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert sd.keys() == ref_sd.keys() and all(torch.equal(sd[k], ref_sd[k]) for k in sd)
    ids = torch.randint(0, 4000, (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(ours(input_ids=ids).logits, ref(input_ids=ids).logits)
        out_ref = ref.generate(ids[:1], max_new_tokens=5, do_sample=False)
        out = ours.generate(ids[:1], max_new_tokens=5, do_sample=False)
    assert torch.equal(out, out_ref)


def test_official_directory(tmp_path):
    ours = weights.from_pretrained(GOLDEN / "official_df11")
    weights.decompress(GOLDEN / "official_df11", tmp_path / "plain", progress=False)
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "plain"), dtype=torch.bfloat16).eval()
    ids = torch.randint(0, 256, (1, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(ours(input_ids=ids).logits, ref(input_ids=ids).logits)


def test_missing_weights_are_an_error(tmp_path):
    src = save_llama(tmp_path / "bf16", vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                     num_attention_heads=2, num_key_value_heads=1)
    t = load_file(str(src / "model.safetensors"))
    del t["model.layers.0.mlp.up_proj.weight"]
    save_file(t, str(src / "model.safetensors"), metadata={"format": "pt"})
    weights.compress(src, tmp_path / "df11", progress=False)
    with pytest.raises(FormatError, match="lacks weights"):
        weights.from_pretrained(tmp_path / "df11")


@pytest.mark.parametrize("tied", [False, True])
def test_keep_compressed_decodes_each_block_before_it_runs(tmp_path, tied):
    save_llama(tmp_path / "bf16", seed=3, vocab_size=3000, hidden_size=128, intermediate_size=352, num_hidden_layers=3,
               num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
    weights.compress(tmp_path / "bf16", tmp_path / "df11", progress=False)
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "bf16"), dtype=torch.bfloat16).eval()
    ours = weights.from_pretrained(tmp_path / "df11", keep_compressed=True)
    info = ours._entrozip_compressed
    assert info["blocks"] == 3 + 1  # the layers and the head (the head decodes the tied table itself)
    assert info["lookups"] == 1  # the embedding: rows decoded per lookup
    assert isinstance(ours.model.embed_tokens, CompressedEmbedding)
    assert info["scratch_bytes"] == 3000 * 128 * 2  # the largest block: the head
    ids = torch.randint(0, 3000, (2, 16), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.equal(ours(input_ids=ids).logits, ref(input_ids=ids).logits)
        assert torch.equal(ours.generate(ids[:1], max_new_tokens=4, do_sample=False),
                           ref.generate(ids[:1], max_new_tokens=4, do_sample=False))


def test_official_directory_kept_compressed(tmp_path):
    ours = weights.from_pretrained(GOLDEN / "official_df11", keep_compressed=True)  # converted on the way in
    assert ours._entrozip_compressed["weights"] > 0
    plain = weights.from_pretrained(GOLDEN / "official_df11")
    ids = torch.randint(0, 256, (1, 12), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(ours(input_ids=ids).logits, plain(input_ids=ids).logits)
    (tmp_path / "config.json").write_bytes((GOLDEN / "official_df11" / "config.json").read_bytes())
    with pytest.raises(FormatError, match="safetensors"):  # a config without weights
        weights.from_pretrained(tmp_path, keep_compressed=True)

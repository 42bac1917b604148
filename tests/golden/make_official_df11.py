"""Builds the official-DFloat11 test fixture with the official encoder (dfloat11 0.5.0).

    pip install --no-deps dfloat11 dahuffman && pip install transformers
    python tests/golden/make_official_df11.py

Writes tests/golden/official_df11/: a tiny Llama (random bf16 weights) in the
official single-file layout (model.safetensors + config.json with dfloat11_config),
and ../official_df11_original.safetensors, the bf16 weights it must decode to. The official
package's __init__ imports cupy, so its encoder module is loaded by file path and
the official save layout (units' luts / encoded_exponent / sign_mantissa /
output_positions / gaps / split_positions buffers beside the remaining weights)
is reproduced here.
"""
import contextlib
import importlib.util
import io
import json
import re
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, LlamaConfig

OUT = Path(__file__).parent / "official_df11"
PATTERNS = {
    r"model\.embed_tokens": [],
    r"model\.layers\.\d+": ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"],
    r"lm_head": [],
}


def official_utils():
    spec = importlib.util.find_spec("dfloat11")
    path = Path(spec.submodule_search_locations[0]) / "dfloat11_utils.py"
    s = importlib.util.spec_from_file_location("dfloat11_utils_by_path", path)
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    return mod


def main():
    utils = official_utils()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    model = AutoModelForCausalLM.from_config(config).to(torch.bfloat16)
    with torch.no_grad():  # trained-looking weights: heavy tails, varied scales
        for p in model.parameters():
            p.copy_((torch.distributions.StudentT(4.0).sample(p.shape) * 0.02).to(torch.bfloat16))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(state, str(OUT.parent / "official_df11_original.safetensors"))

    modules = dict(model.named_modules())
    out, compressed = {}, set()
    for pattern, attrs in PATTERNS.items():
        for name in [n for n in modules if re.fullmatch(pattern, n)]:
            names = [f"{name}.{a}.weight" for a in attrs] if attrs else [f"{name}.weight"]
            weights = [state[n].flatten() for n in names]
            compressed.update(names)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                _, counter = utils.get_codec(torch.cat(weights))
                codec, _, table = utils.get_32bit_codec(counter)
                luts = utils.get_luts(table)
                encoded, other, positions, gaps, splits = utils.encode_weights(weights, codec, 8, 512)
            out[f"{name}.luts"] = luts
            out[f"{name}.encoded_exponent"] = encoded
            out[f"{name}.sign_mantissa"] = other
            out[f"{name}.output_positions"] = positions.view(torch.uint8)
            out[f"{name}.gaps"] = gaps
            out[f"{name}.split_positions"] = splits
    for k, v in state.items():
        if k not in compressed:
            out[k] = v
    save_file(out, str(OUT / "model.safetensors"))
    cfg = config.to_dict()
    cfg["architectures"] = ["LlamaForCausalLM"]  # as save_pretrained writes it
    cfg["dfloat11_config"] = {"version": "0.5.0", "threads_per_block": [512], "bytes_per_thread": 8,
                              "pattern_dict": PATTERNS}
    (OUT / "config.json").write_text(json.dumps(cfg, indent=2))

    # A code book deep enough for four look-up levels and the 32-bit length limit:
    # Fibonacci counts over exponents 90..134, with the official LUTs it gives.
    fib = [1, 1]
    while len(fib) < 45:
        fib.append(fib[-1] + fib[-2])
    counter = {90 + i: c for i, c in enumerate(fib)}
    with contextlib.redirect_stdout(io.StringIO()):
        _, _, table = utils.get_32bit_codec(counter)
        luts = utils.get_luts(table)
    save_file({"counts": torch.tensor(fib, dtype=torch.int64), "luts": luts},
              str(OUT.parent / "official_df11_deep_luts.safetensors"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()

"""Loading a Llama-shaped causal LM from DF11 on the CPU: time, host memory, identical outputs.

    python bench/bench_weights_load.py [--layers 16] [--out docs/results]

Builds the LlamaConfig model of the GPU weights issue (16 layers, hidden 1024,
intermediate 2816, vocab 32000, random weights saved in bf16), compresses it,
then loads it in fresh processes three ways — transformers' from_pretrained of the
bf16 directory, entrozip.weights.from_pretrained of the DF11 directory (all
decoded), and the same with keep_compressed=True (blocks decoded before they run, the
embedding's rows looked up from its compressed table) — and reports wall time, greedy
generation tokens/s at batch 1, peak resident memory (VmHWM of each process) and
whether the logits and generated tokens are bit-identical.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOADER = r"""
import sys, time, torch
path, kind = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if kind == "bf16":
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()
else:
    from entrozip import weights
    model = weights.from_pretrained(path, keep_compressed=(kind == "df11-compressed"))
seconds = time.perf_counter() - t
ids = torch.randint(0, 32000, (1, 32), generator=torch.Generator().manual_seed(0))
new = int(sys.argv[4])
with torch.no_grad():
    logits = model(input_ids=ids).logits
    model.generate(ids, max_new_tokens=1, do_sample=False)  # warm-up
    t = time.perf_counter()
    tokens = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False)
    tok_s = new / (time.perf_counter() - t)
torch.save({"logits": logits, "tokens": tokens}, sys.argv[3])
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))  # KiB, this process only
print(seconds, tok_s, hwm / 1024)
"""


def llama_shaped(layers: int):
    """The LlamaConfig model of the GPU weights issue (hidden 1024, intermediate 2816, vocab
    32000), random weights (seed 0) in bf16."""
    import torch
    import transformers

    config = transformers.LlamaConfig(vocab_size=32000, hidden_size=1024, intermediate_size=2816,
                                      num_hidden_layers=layers, num_attention_heads=16, num_key_value_heads=16)
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(config).to(torch.bfloat16)


def main():
    import torch

    from entrozip import weights

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--new-tokens", type=int, default=8, help="greedy tokens generated at batch 1 (tokens/s)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ez-load-") as tmp:
        tmp = Path(tmp)
        model = llama_shaped(args.layers)
        params = sum(p.numel() for p in model.parameters())
        model.save_pretrained(str(tmp / "bf16"))
        del model
        t = time.perf_counter()
        m = weights.compress(tmp / "bf16", tmp / "df11", progress=False)
        compress_s = time.perf_counter() - t
        rows = {}
        for kind, path in (("bf16", tmp / "bf16"), ("df11", tmp / "df11"), ("df11-compressed", tmp / "df11")):
            out = subprocess.run([sys.executable, "-c", LOADER, str(path), kind, str(tmp / f"{kind}.pt"),
                                  str(args.new_tokens)], capture_output=True, text=True, check=True).stdout.split()
            rows[kind] = {"load_seconds": float(out[-3]), "tokens_per_s": float(out[-2]),
                          "peak_rss_mib": float(out[-1])}
        ref = torch.load(tmp / "bf16.pt")
        same = all(torch.equal(ref[key], torch.load(tmp / f"{k}.pt")[key])
                   for k in ("df11", "df11-compressed") for key in ("logits", "tokens"))
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "parameters": params,
           "bf16_tensor_bytes": m["original_tensor_bytes"], "df11_tensor_bytes": m["compressed_tensor_bytes"],
           "compress_seconds": compress_s, "loads": rows, "logits_and_tokens_identical": same}
    print(json.dumps(res, indent=1))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_weights_load.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

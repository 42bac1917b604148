"""Record a Kodak run of a shipped image model in the weights manifest (its `kodak` entry,
which picks the default model per quality: entrozip/codecs/image/default.py).

    entrozip eval image --dataset ../shared/data/kodak --codec elic,s2lic --out docs/results/kodak-X
    python scripts/record_kodak.py s2lic docs/results/kodak-X/s2lic.json

Run from the repository root so that the stored results path is relative to it."""
import argparse
import json

from entrozip.codecs.image.default import default_models
from entrozip.codecs.image.weights import record_kodak

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("model")
parser.add_argument("results", help="the model's JSON from `entrozip eval image` (all 24 Kodak images, q1..8)")
args = parser.parse_args()
print(json.dumps(record_kodak(args.model, args.results)))
print("default model per quality:", default_models())

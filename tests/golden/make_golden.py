"""Writes the golden files of the current format version. Run once per version:
    python tests/golden/make_golden.py
Existing files are never overwritten (old versions must keep decoding)."""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))

from golden_cases import BYTES_TEXT, rans_cases  # noqa: E402

from entrozip import open_codec, rans  # noqa: E402

for name, (symbols, model, indexes, kwargs) in rans_cases().items():
    path = here / name
    if not path.exists():
        path.write_bytes(rans.encode(symbols, model, indexes, **kwargs))
        print("wrote", path)
path = here / "bytes_v1.ezc"
if not path.exists():
    path.write_bytes(open_codec("bytes", block_size=1024).compress(BYTES_TEXT))
    print("wrote", path)

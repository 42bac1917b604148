"""What entrozip takes from CompressAI, imported in one place.

`import compressai` calls torch.jit.script, which torch >= 2.10 deprecates with a
FutureWarning: noise for every user of the learned codecs, and not ours to fix. It is
silenced here, for that import only; every entrozip module imports CompressAI from here.
"""
import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    import compressai  # noqa: F401  (the import that warns; the ones below find it loaded)

from compressai.entropy_models import EntropyBottleneck, EntropyModel, GaussianConditional  # noqa: E402
from compressai.layers import GDN  # noqa: E402
from compressai.models.utils import conv, deconv  # noqa: E402
from compressai.ops import quantize_ste  # noqa: E402

__all__ = ["EntropyBottleneck", "EntropyModel", "GaussianConditional", "GDN", "conv", "deconv", "quantize_ste"]

"""`Scene4D`: a dynamic (4DGS) scene = canonical Gaussians + a deformation field.

On disk (what `entrozip compress` reads and `decompress` writes) a scene is a folder:

    point_cloud.ply          the canonical Gaussians, INRIA .ply
    deformation.safetensors  planes.S.P (C x R_b x R_a float32) and the MLP's tensors
                             (trunk.*, heads.*); metadata "entrozip.deformation":
                             JSON {"config": FieldConfig, "bounds": [[min xyz], [max xyz]]}

4DGS's own training code saves its field as a pickle (deformation.pth); entrozip never
unpickles, so such a field must be re-saved as safetensors under these names first.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch

from ...errors import FormatError
from .cloud import GaussianCloud
from .deform import DeformationField, FieldConfig
from .ply import read_ply, write_ply

PLY_NAME = "point_cloud.ply"
FIELD_NAME = "deformation.safetensors"
METADATA_KEY = "entrozip.deformation"


@dataclass
class Scene4D:
    canonical: GaussianCloud
    field: DeformationField

    def __len__(self) -> int:
        return len(self.canonical)

    def at(self, t: float) -> GaussianCloud:
        """The scene at time t in [0, 1]: centres, log-scales and quaternions deformed."""
        c = self.canonical
        with torch.no_grad():
            d = self.field(torch.from_numpy(c.means), float(t))
        return GaussianCloud(means=c.means + d["dx"].numpy(), sh_dc=c.sh_dc, sh_rest=c.sh_rest,
                             opacity=c.opacity, log_scales=c.log_scales + d["ds"].numpy(),
                             quats=c.quats + d["dq"].numpy())

    @property
    def nbytes_raw(self) -> int:
        """Bytes of the scene as 4DGS stores it: the INRIA .ply payload + float32 field tensors."""
        return self.canonical.nbytes_inria + 4 * sum(a.size for a in self.field.arrays().values())

    # ---------------------------------------------------------------- files

    def write(self, folder) -> None:
        from safetensors.numpy import save_file

        os.makedirs(folder, exist_ok=True)
        write_ply(self.canonical, os.path.join(folder, PLY_NAME))
        save_file(self.field.arrays(), os.path.join(folder, FIELD_NAME),
                  metadata={METADATA_KEY: self.field.metadata_json()})

    @classmethod
    def read(cls, folder) -> "Scene4D":
        """FormatError for a folder that is not a 4DGS scene in this layout."""
        from safetensors import SafetensorError, safe_open

        ply, path = os.path.join(folder, PLY_NAME), os.path.join(folder, FIELD_NAME)
        if not (os.path.isfile(ply) and os.path.isfile(path)):
            raise FormatError(f"{folder}: a 4DGS scene folder holds {PLY_NAME} and {FIELD_NAME}")
        cloud, _ = read_ply(ply)
        try:
            with safe_open(path, "np") as f:
                meta = json.loads((f.metadata() or {})[METADATA_KEY])
                arrays = {k: f.get_tensor(k) for k in f.keys()}
            field = DeformationField.from_arrays(FieldConfig.from_json(meta["config"]), meta["bounds"], arrays)
        except (SafetensorError, KeyError, TypeError, ValueError) as e:  # json errors are ValueErrors
            raise FormatError(f"{path}: not a deformation field entrozip reads ({e})") from None
        return cls(cloud, field)


def is_scene_folder(path) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, FIELD_NAME)) \
        and os.path.isfile(os.path.join(path, PLY_NAME))


def check_scene(scene: Scene4D) -> None:
    """ValueError for NaN/Inf anywhere in the scene."""
    scene.canonical.check_finite("canonical scene")
    for name, a in scene.field.arrays().items():
        if not np.isfinite(a).all():
            raise ValueError(f"deformation field: {name} holds NaN/Inf")

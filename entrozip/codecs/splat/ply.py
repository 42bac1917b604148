"""Read and write 3DGS scenes as .ply: the INRIA float layout and, as input,
PlayCanvas/SuperSplat's chunked "compressed.ply" (supersplat.py).

    cloud, source = read_ply(path)      # source: {"format", "bytes", "dropped", ...}
    write_ply(cloud, path)              # standard INRIA .ply (zero normals), any viewer loads it

plyfile parses; a header check runs first so a hostile element count can never
make it allocate or read beyond the file (every length is checked before use).
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from ...errors import FormatError
from .cloud import GaussianCloud, degree_of_rest, sh_rest_count
from .supersplat import is_supersplat, read_supersplat

MAX_HEADER = 1 << 16
_SIZES = {"char": 1, "int8": 1, "uchar": 1, "uint8": 1, "short": 2, "int16": 2, "ushort": 2, "uint16": 2,
          "int": 4, "int32": 4, "uint": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8}
REQUIRED = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
            "rot_0", "rot_1", "rot_2", "rot_3"]


def parse_header(head: bytes, file_size: int, where: str) -> dict:
    """{"format", "elements": [(name, count, [(type, prop), ...])], "header_bytes"}; checks
    that a binary body of that many rows fits in the file."""
    end = head.find(b"end_header\n")
    if not head.startswith(b"ply\n") or end < 0:
        raise FormatError(f"{where}: not a binary .ply file (no 'ply' magic or no end_header in the first 64 KiB)")
    lines = head[:end].decode("ascii", "replace").splitlines()[1:]
    fmt, elements = None, []
    for line in lines:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) == 3:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property" and elements and len(words) == 3 and words[1] in _SIZES:
            elements[-1][2].append((words[1], words[2]))
        elif words[0] == "property" and elements and words[1:2] == ["list"]:
            raise FormatError(f"{where}: list properties are not part of a 3DGS .ply")
        else:
            raise FormatError(f"{where}: unreadable .ply header line {line!r}")
    if fmt not in ("binary_little_endian", "binary_big_endian"):
        raise FormatError(f"{where}: .ply format {fmt!r} is not supported (binary_little/big_endian are)")
    body = sum(count * sum(_SIZES[t] for t, _ in props) for _, count, props in elements)
    header_bytes = end + len(b"end_header\n")
    if header_bytes + body > file_size:
        raise FormatError(f"{where}: the header promises {body} bytes of data; the file holds "
                          f"{file_size - header_bytes} (truncated or corrupted)")
    return {"format": fmt, "elements": elements, "header_bytes": header_bytes}


def _read_plyfile(path, where):
    import plyfile

    try:
        return plyfile.PlyData.read(str(path))
    except (plyfile.PlyParseError, plyfile.PlyHeaderParseError, ValueError, EOFError) as exc:
        raise FormatError(f"{where}: unreadable .ply ({exc})") from None


def read_ply(path) -> tuple[GaussianCloud, dict]:
    """(scene, source info) of an INRIA 3DGS .ply or a SuperSplat compressed.ply."""
    where = str(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(MAX_HEADER)
    header = parse_header(head, size, where)
    names = [e[0] for e in header["elements"]]
    data = _read_plyfile(path, where)
    if is_supersplat(names):
        cloud = read_supersplat(data, where)
        return cloud, {"format": "supersplat", "bytes": size, "dropped": []}
    if "vertex" not in names:
        raise FormatError(f"{where}: no 'vertex' element (elements: {', '.join(names) or 'none'})")
    v = data["vertex"].data
    props = list(v.dtype.names)
    missing = [p for p in REQUIRED if p not in props]
    if missing:
        raise FormatError(f"{where}: not a 3DGS .ply, it lacks {', '.join(missing)}")
    rest = sorted((p for p in props if p.startswith("f_rest_")), key=lambda p: int(p[7:]) if p[7:].isdigit() else -1)
    if len(rest) % 3 or [p for p in rest] != [f"f_rest_{i}" for i in range(len(rest))]:
        raise FormatError(f"{where}: f_rest_* properties are not 0..3K-1 ({len(rest)} found)")
    try:
        degree = degree_of_rest(len(rest) // 3)
    except ValueError as exc:
        raise FormatError(f"{where}: {exc}") from None
    k = sh_rest_count(degree)

    def col(*ps):
        return np.stack([np.asarray(v[p], np.float32) for p in ps], axis=1)

    sh_rest = col(*rest).reshape(len(v), 3, k).transpose(0, 2, 1) if k else np.zeros((len(v), 0, 3), np.float32)
    cloud = GaussianCloud(means=col("x", "y", "z"), sh_dc=col("f_dc_0", "f_dc_1", "f_dc_2"), sh_rest=sh_rest,
                          opacity=np.asarray(v["opacity"], np.float32),
                          log_scales=col("scale_0", "scale_1", "scale_2"),
                          quats=col("rot_0", "rot_1", "rot_2", "rot_3"))
    known = set(REQUIRED) | set(rest) | {"nx", "ny", "nz"}
    dropped = [p for p in props if p not in known]
    others = [n for n in names if n != "vertex"]
    if dropped or others:
        warnings.warn(f"{where}: not coded (not part of a 3DGS scene): "
                      f"{', '.join(dropped + [f'element {n}' for n in others])}", stacklevel=2)
    return cloud, {"format": "inria", "bytes": size, "dropped": dropped + [f"element {n}" for n in others]}


def inria_dtype(degree: int) -> np.dtype:
    k = sh_rest_count(degree)
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    names += [f"f_rest_{i}" for i in range(3 * k)]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    return np.dtype([(n, "<f4") for n in names])


def to_inria_rows(cloud: GaussianCloud) -> np.ndarray:
    """The scene as INRIA .ply rows (a structured array, normals zero)."""
    k = cloud.sh_rest.shape[1]
    rows = np.zeros(len(cloud), inria_dtype(cloud.sh_degree))
    for i, p in enumerate("xyz"):
        rows[p] = cloud.means[:, i]
    for i in range(3):
        rows[f"f_dc_{i}"] = cloud.sh_dc[:, i]
        rows[f"scale_{i}"] = cloud.log_scales[:, i]
    rest = cloud.sh_rest.transpose(0, 2, 1).reshape(len(cloud), 3 * k)
    for i in range(3 * k):
        rows[f"f_rest_{i}"] = rest[:, i]
    rows["opacity"] = cloud.opacity
    for i in range(4):
        rows[f"rot_{i}"] = cloud.quats[:, i]
    return rows


def inria_bytes(cloud: GaussianCloud) -> bytes:
    """The scene as a complete INRIA .ply file (binary little endian, zero normals)."""
    rows = to_inria_rows(cloud)
    head = ["ply", "format binary_little_endian 1.0", f"element vertex {len(rows)}"]
    head += [f"property float {n}" for n in rows.dtype.names] + ["end_header", ""]
    return "\n".join(head).encode("ascii") + rows.tobytes()


def write_ply(cloud: GaussianCloud, path) -> None:
    with open(path, "wb") as f:
        f.write(inria_bytes(cloud))

"""The `entrozip` command line: compress, decompress, info, demo.

Every error a user can cause (bad file, wrong option) ends as one line on
stderr and exit status 2; no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager

from . import __version__
from .errors import EntrozipError

DESCRIPTION = """\
entrozip: learned compression on one rANS entropy layer.

  entrozip demo                       compress a bundled Kodak photo: bpp, PSNR, times
  entrozip compress IN OUT.ezc        compress an image or a video (learned codecs), a 3DGS .ply scene,
                                      a 4DGS scene folder, or any file (lossless)
  entrozip info --models              the image models and their qualities
  entrozip decompress IN.ezc OUT      restore it (the codec is read from the file)
  entrozip info FILE.ezc              show what a file holds
  entrozip weights compress SRC DST   lossless LLM weights (DFloat11-style), directory to directory
  entrozip eval image --dataset DIR --codec jpeg,webp,avif --out OUT   RD curves + BD-rates
  entrozip eval video --dataset DIR --codec stem,x264,x265,svtav1,vvenc --out OUT   (low delay, GOP 32)
  entrozip eval splat --dataset ../shared/data/splat --out OUT          size vs rendered PSNR
  entrozip eval splat4d --scene DIR --out OUT                           a 4DGS scene: size vs PSNR over time
  entrozip train image|video|splat ...                                  variable-rate training
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}


def _is_image(path: str) -> bool:
    if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
        return True
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError):
        return False


def _is_splat(path: str) -> bool:
    """A .ply whose vertices carry 3DGS attributes (INRIA) or a SuperSplat compressed.ply."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    end = head.find(b"end_header")
    return head.startswith(b"ply") and end > 0 and (
        b"property float f_dc_0" in head[:end] or b"property uint packed_position" in head[:end])


VIDEO_SUFFIXES = {".mp4", ".mkv", ".y4m", ".avi", ".mov", ".webm", ".m4v"}


def _codec_for_input(path: str, named: str | None) -> str:
    """The codec named, else "splat4d" for 4DGS scene folders (point_cloud.ply +
    deformation.safetensors), "image" for images, "splat" for 3DGS .ply scenes, "video" for
    video files (by suffix) and folders of PNG frames, else "bytes"."""
    if named:
        return named
    from .codecs.splat.scene4d import is_scene_folder

    if is_scene_folder(path):
        return "splat4d"
    if os.path.splitext(path)[1].lower() in VIDEO_SUFFIXES:
        return "video"
    return "splat" if _is_splat(path) else "image" if _is_image(path) else "bytes"


def _codec_options(args, codec_id: str, in_folder: bool) -> dict:
    options = {"threads": args.threads}
    if codec_id == "image":
        options.update(model=args.model, quality=args.quality, device=args.device, weights=args.weights,
                       rdoq=args.rdoq)
    elif codec_id in ("splat", "splat4d"):
        options.update(quality=args.quality)
        if args.model is not None and not in_folder:
            raise ValueError(f"--model applies to the image codec, not {codec_id}")
    elif codec_id == "video":
        options.update(quality=args.quality, device=args.device, intra_period=args.intra_period,
                       max_frames=args.frames,
                       inter_kinds=None if args.inter_kinds is None else args.inter_kinds.split(","),
                       rdoq=args.rdoq)
        if args.model is not None and not in_folder:
            raise ValueError("--model applies to the image codec, not video")
    elif (args.model is not None or args.quality is not None) and not in_folder:
        raise ValueError(f"--model and --quality apply to the image, splat and video codecs, not {codec_id!r}")
    if codec_id != "image" and args.weights is not None and not in_folder:
        raise ValueError("--weights applies to the image codec")
    if codec_id not in ("image", "video") and args.rdoq is not None and not in_folder:
        raise ValueError("--rdoq applies to the image and video codecs")
    video_only = (args.intra_period, args.frames, args.inter_kinds)
    if codec_id != "video" and any(v is not None for v in video_only) and not in_folder:
        raise ValueError("--intra-period, --frames and --inter-kinds apply to the video codec")
    return options


def _pairs(src: str, dst: str, new_name) -> list[tuple[str, str]]:
    """(input, output) pairs: one file (or one 4DGS scene folder), or every file of folder
    `src` into folder `dst`."""
    from .codecs.splat.scene4d import is_scene_folder

    if not os.path.isdir(src) or is_scene_folder(src):
        return [(src, dst)]
    if os.path.exists(dst) and not os.path.isdir(dst):
        raise ValueError(f"{src} is a folder, so OUT must be a folder too ({dst} is a file)")
    names = sorted(n for n in os.listdir(src) if os.path.isfile(os.path.join(src, n)) and not n.startswith("."))
    if not names:
        raise ValueError(f"{src}: no files to process")  # before making dst: a failed call leaves nothing
    os.makedirs(dst, exist_ok=True)
    return [(os.path.join(src, n), os.path.join(dst, new_name(n))) for n in names]


@contextmanager
def _files(src: str, dst: str):
    """Real paths for src and dst: "-" becomes a temporary file filled from stdin
    (src) or copied to stdout afterwards (dst), so every codec works on files."""
    with tempfile.TemporaryDirectory(prefix="entrozip-") as tmp:
        if src == "-":
            src = os.path.join(tmp, "stdin")
            with open(src, "wb") as f:
                shutil.copyfileobj(sys.stdin.buffer, f)
        real_dst = os.path.join(tmp, "stdout") if dst == "-" else dst
        yield src, real_dst
        if dst == "-":
            with open(real_dst, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.buffer.flush()


def _path_size(path: str) -> int:
    """Bytes of a file, or of every file in a folder (a 4DGS scene)."""
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path)
               if os.path.isfile(os.path.join(path, n)))


def _report(line: str, piped: bool) -> None:
    print(line, file=sys.stderr if piped else sys.stdout)  # never mix a report into piped data


def cmd_compress(args) -> int:
    from .codecs import open_codec
    from .codecs.splat.scene4d import is_scene_folder

    in_folder = os.path.isdir(args.input) and not is_scene_folder(args.input)  # every file in it
    for name, out in _pairs(args.input, args.output, lambda n: n + ".ezc"):
        with _files(name, out) as (src, dst):
            codec_id = _codec_for_input(src, args.codec)
            codec = open_codec(codec_id, **_codec_options(args, codec_id, in_folder))
            t = time.perf_counter()
            codec.compress_file(src, dst)
            dt = time.perf_counter() - t
            src_size, dst_size = _path_size(src), os.path.getsize(dst)
            extra = ""
            if codec_id == "image":
                from PIL import Image

                with Image.open(src) as im:
                    extra = f", {8 * dst_size / (im.width * im.height):.4f} bpp, {codec.model_name} q{codec.quality}"
        ratio = src_size / dst_size if dst_size else float("inf")
        _report(f"{name} -> {out}: {_size(src_size)} -> {_size(dst_size)} (ratio {ratio:.3f}{extra}, {codec_id}, "
                f"{dt:.2f} s)", out == "-")
    return 0


def _decompressed_name(name: str, codec_id: str) -> str:
    """x.png.ezc -> x.png; an image file comes back as PNG (x.jpg.ezc -> x.png), a splat
    scene as .ply (x.compressed.ply.ezc -> x.ply); other.ezc -> other."""
    stem = name[:-4] if name.endswith(".ezc") else name + ".out"
    base, ext = os.path.splitext(stem)
    if codec_id == "splat":
        base = base[:-len(".compressed")] if base.endswith(".compressed") else base
        return base + ".ply"
    if codec_id == "splat4d":  # a folder: point_cloud.ply + deformation.safetensors
        return stem
    if codec_id == "video":  # y4m, or a lossless mp4 / mkv when the source was one
        return stem if ext.lower() in (".mp4", ".mkv", ".y4m") else base + ".y4m"
    return base + ".png" if codec_id == "image" and ext.lower() != ".png" else stem


def cmd_decompress(args) -> int:
    from .codecs import codec_for_file
    from .container import read_file

    folder = os.path.isdir(args.input)
    for name, out in _pairs(args.input, args.output, lambda n: n):
        with _files(name, out) as (src, dst):
            options = {"threads": args.threads}
            if args.weights is not None:
                if read_file(src, verify=False).codec != "image":
                    raise ValueError(f"{name}: --weights applies to image files")
                options["weights"] = args.weights
            codec = codec_for_file(src, **options)
            if codec.codec_id == "splat4d" and out == "-":
                raise ValueError(f"{name}: a 4DGS scene decompresses to a folder; give OUT as a folder path")
            if folder:  # the output name depends on what the file holds
                out = dst = os.path.join(args.output, _decompressed_name(os.path.basename(name), codec.codec_id))
            t = time.perf_counter()
            codec.decompress_file(src, dst)
            dt = time.perf_counter() - t
            size = _path_size(dst)
        _report(f"{name} -> {out}: {_size(size)} ({codec.codec_id}, {dt:.2f} s)", out == "-")
    return 0


def cmd_train_video(args) -> int:
    from .codecs.image import pick_device
    from .codecs.video.weights import ship
    from .train.video import train

    folders = [f for f in args.data.split(",") if f]
    entry = train(folders, args.out, args.minutes, batch=args.batch, crop=args.crop, frames=args.frames, lr=args.lr,
                  lr_final=args.lr_final, device=pick_device(args.device), seed=args.seed, resume=args.resume,
                  transforms=args.transforms, transform_lr=args.transform_lr)
    t = entry["training"]
    rate = (f"rate {t['final_bpp']:.4f} bpp, every frame" if args.transforms
            else f"inter-frame rate {t['final_inter_bpp']:.4f} bpp")
    print(f"weights {entry['weights_id']}: {t['steps']} steps, {rate} (training clips) -> {args.out}")
    if args.ship:
        ship(args.out)
        print("shipped into the package (entrozip/codecs/video/weights)")
    return 0


def cmd_models(args) -> int:
    from .codecs.image.default import default_models
    from .codecs.image.models import MODELS, QUALITIES
    from .codecs.image.weights import manifest

    shipped = manifest()
    default = default_models(shipped)
    rows = []
    for name, spec in MODELS.items():
        entry = shipped.get(name, {})
        rows.append({"codec": "image", "model": name, "qualities": list(range(1, QUALITIES + 1)),
                     "default_at": [q for q, m in default.items() if m == name],
                     "trained": bool(entry), "summary": spec.summary, "weights": entry})
    from .codecs.splat import QUALITIES as SPLAT_QUALITIES

    rows.append({"codec": "splat", "model": "gs3d", "qualities": list(range(1, SPLAT_QUALITIES + 1)),
                 "trained": None, "weights": {},
                 "summary": "3DGS .ply: pruning, Morton-block positions, context-coded attribute grids, SH codebook"})
    from .codecs.splat.codec4d import QUALITIES as SPLAT4D_QUALITIES

    rows.append({"codec": "splat4d", "model": "gs4d", "qualities": list(range(1, SPLAT4D_QUALITIES + 1)),
                 "trained": None, "weights": {},
                 "summary": "4DGS folder (Light4GS-style): spatio-temporal pruning, gs3d canonical Gaussians, "
                            "footprint-only HexPlane coding with coarse-to-fine prediction, quantised MLP"})
    from .codecs.video.weights import manifest as video_manifest

    ventry = video_manifest().get("stem", {})
    rows.append({"codec": "video", "model": "stem", "qualities": list(range(1, QUALITIES + 1)),
                 "trained": bool(ventry), "weights": ventry,
                 "summary": "STEM: the elic transforms for every frame + a spatiotemporal entropy model"})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'codec':7} {'model':14} {'qualities':10} {'weights':34} description")
    for r in rows:
        state = {True: "shipped", False: "none shipped (untrained init)", None: "none needed (fitted per scene)"}[
            r["trained"]]
        if r["trained"] and "training" in r["weights"]:  # how much training the shipped weights had
            t = r["weights"]["training"]
            state += f" ({t['steps']:,} steps, {t['runs']} run{'s' * (t['runs'] != 1)})"
        print(f"{r['codec']:7} {r['model']:14} {'1..' + str(len(r['qualities'])):10} {state:34} {r['summary']}")
    print("\nimage model used when none is named (the smallest Kodak RD cost bpp + lambda x 255^2 x MSE at "
          "each quality's training lambda, measured with the shipped weights):")
    print("  " + ", ".join(f"q{q} {m}" for q, m in default.items()))
    return 0


def cmd_info(args) -> int:
    from . import rans
    from .container import read_file

    if args.models:
        return cmd_models(args)
    if args.file is None:
        raise ValueError("info needs FILE (or --models)")
    if os.path.isdir(args.file):  # a compressed weights directory
        args.src, args.tensors, args.action = args.file, False, "info"
        return cmd_weights(args)

    c = read_file(args.file, verify=not args.no_verify)
    sections = []
    for name, payload in c.sections.items():
        entry = {"name": name, "bytes": len(payload)}
        try:  # sections that are rANS streams say what they hold
            s = rans.stream_info(payload)
            entry["rans"] = {
                "kind": s.kind,
                "symbols": s.num_symbols,
                "chunks": s.num_chunks,
                "chunk_symbols": s.chunk_symbols,
            }
        except (EntrozipError, ValueError):
            pass
        sections.append(entry)
    from .codecs import describe

    summary = describe(c)
    if args.json:
        print(json.dumps({"file": args.file, "size": c.size, "format_version": c.version, "codec": c.codec,
                          "header": c.header, "sections": sections, "summary": summary}, indent=2))
        return 0
    print(f"{args.file}: entrozip container v{c.version}, codec {c.codec!r}, {_size(c.size)}"
          + ("" if args.no_verify else ", CRCs ok"))
    print("header:")
    for key, value in sorted(c.header.items()):
        print(f"  {key}: {json.dumps(value)}")
    print(f"sections ({len(sections)}):")
    for e in sections:
        extra = ""
        if "rans" in e:
            r = e["rans"]
            extra = f"  rANS {r['kind']}, {r['symbols']:,} symbols in {r['chunks']} chunk(s)"
        print(f"  {e['name']:24} {e['bytes']:>12,} B{extra}")
    if summary:
        def show(v):
            return f"{v:,.4f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)

        print("summary: " + ", ".join(f"{k} {show(v)}" for k, v in summary.items()))
    return 0


def cmd_weights(args) -> int:
    from . import weights

    if args.action == "compress":
        m = weights.compress(args.src, args.dst, threads=args.threads, overwrite=args.force, layout=args.layout)
        values = sum(row[0] for f in m["files"].values() for row in f["by_dtype"].values())
        print(f"{args.src} -> {args.dst}: tensors {_size(m['original_tensor_bytes'])} -> "
              f"{_size(m['compressed_tensor_bytes'])} ({8 * m['compressed_tensor_bytes'] / max(values, 1):.3f} bits/value, "
              f"ratio {m['original_tensor_bytes'] / max(m['compressed_tensor_bytes'], 1):.3f})")
    elif args.action == "decompress":
        weights.decompress(args.src, args.dst, threads=args.threads, overwrite=args.force)
        print(f"{args.src} -> {args.dst}: restored")
    elif args.action == "convert":
        patterns = json.loads(args.pattern_dict) if args.pattern_dict else None
        m = weights.convert(args.src, args.dst, threads=args.threads, overwrite=args.force, pattern_dict=patterns)
        if "units" in m:
            print(f"{args.src} -> {args.dst}: official DFloat11, {m['units']} units, {m['compressed_weights']} weights")
        else:
            print(f"{args.src} (official DFloat11) -> {args.dst}: tensors {_size(m['compressed_tensor_bytes'])}")
    elif args.action == "info":
        i = weights.info(args.src)
        if args.json:
            print(json.dumps(i, indent=1))
            return 0
        print(f"{args.src}: tensors {_size(i['original_tensor_bytes'])} -> {_size(i['compressed_tensor_bytes'])}")
        print(f"  {'dtype':8} {'values':>14} {'bytes':>14} {'bits/value':>10}")
        for dtype, row in sorted(i["by_dtype"].items()):
            print(f"  {dtype:8} {row['values']:>14,} {row['bytes']:>14,} {row['bits_per_value']:>10.3f}")
        if args.tensors:
            for t in i["tensors"]:
                print(f"  {t['name']:60} {t['dtype']:8} {t['values']:>12,} {t['bits_per_value']:7.3f}  {t['table']}")
    elif args.action == "verify":
        problems = weights.verify(args.src, args.dst, threads=args.threads)
        for p in problems:
            print(f"  {p}")
        print(f"{args.dst}: {'identical to ' + args.src if not problems else f'{len(problems)} difference(s)'}")
        return 1 if problems else 0
    return 0


def cmd_eval(args) -> int:
    from pathlib import Path

    from .eval import harness, report

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    qualities = [int(q) for q in args.qualities.split(",")] if args.qualities else None
    results = {}
    for name in [c for c in args.codec.split(",") if c]:
        results[name] = harness.evaluate_codec(name, args.dataset, out, qualities, args.limit, weights=args.weights)
    report.write_csv(results, out)
    anchors = [a for a in args.plot_anchors.split(",") if a]
    report.plot(results, out, anchors, args.anchor_dataset)
    table = report.bd_table(results, args.anchor, args.anchor_dataset)
    costs = report.rd_cost_table(results)
    table += f"\n{costs}" if costs else ""
    (out / "bd_rates.md").write_text(table)
    print(table)
    print(f"results: {out}/*.json (CompressAI layout), summary.csv, items.csv, rd_psnr.png, rd_ms_ssim.png, bd_rates.md")
    return 0


def cmd_eval_splat(args) -> int:
    from pathlib import Path

    from .eval import splat

    out = Path(args.out)
    qualities = [int(q) for q in args.qualities.split(",")] if args.qualities else None
    result = splat.evaluate(args.dataset, out, qualities, views=args.views, size=args.size)
    text = splat.table(result)
    (out / "splat.md").write_text(text)
    splat.plot(result, out)
    print(text)
    print(f"results: {out}/splat.json, splat.md, splat_rd.png (raw records: {out}/raw/splat.jsonl)")
    return 0


def cmd_eval_splat4d(args) -> int:
    from pathlib import Path

    from .codecs.splat.scene4d import Scene4D
    from .eval import splat4d

    scene = Scene4D.read(args.scene)
    qualities = [int(q) for q in args.qualities.split(",")] if args.qualities else None
    result = splat4d.evaluate(scene, Path(args.scene).name, qualities, times=args.times, views=args.views,
                              size=args.size)
    out = splat4d.save(result, args.out)
    print(splat4d.table(result))
    print(f"results: {out}/splat4d.json, splat4d.md")
    return 0


def cmd_eval_video(args) -> int:
    from pathlib import Path

    from .eval import report, video

    out = Path(args.out)
    codecs = [c for c in args.codec.split(",") if c]
    if args.video:
        clips = {None: Path(args.video)}
    else:
        found = sorted(p for p in Path(args.dataset).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not found:
            raise ValueError(f"no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) in {args.dataset}")
        clips = {p.stem: p for p in found}  # each clip in its own folder OUT/<clip>/
    per_clip = {}
    for name, path in clips.items():
        where = out if name is None else out / name
        where.mkdir(parents=True, exist_ok=True)
        results = video.evaluate(codecs, path, where, args.frames)
        table = report.video_report(results, where, args.anchor)
        (where / "bd_rates.md").write_text(table)
        print(table)
        per_clip[path.stem] = results
    if args.dataset:
        summary = report.video_dataset_report(per_clip, args.anchor)
        (out / "bd_rates.md").write_text(summary)
        print(summary)
    where = out if args.video else f"{out}/<clip>"
    print(f"results: {where}/*.json, rd_video.png, bd_rates.md (command lines in each JSON's meta)")
    return 0


def cmd_demo(args) -> int:
    from .demo import run, run_image

    images = run_image(args.image, model=args.model, device=args.device, threads=args.threads)
    print()
    rows = run(args.image, threads=args.threads)
    return 0 if all(r["lossless"] for r in rows) and all(r["shape_ok"] for r in images) else 1


def cmd_train(args) -> int:
    from .train.image import train

    data = [d for d in args.data.split(",") if d]
    entry = train(args.model, data, args.out, args.minutes, batch=args.batch, crop=args.crop, lr=args.lr,
                  device=args.device, resume=args.resume, seed=args.seed, kodak=args.kodak,
                  checkpoint_minutes=args.checkpoint_minutes, metric=args.metric, compile_model=args.compile)
    print(f"weights {entry['weights_id']} in {args.out} ({entry['training']['steps']} steps, "
          f"{entry['training']['minutes']} min in all)")
    if args.ship:
        from .codecs.image.weights import ship

        ship(args.out, args.model)
        print(f"shipped as the package's {args.model} weights; they count toward the default model per quality once "
              f"a Kodak run of them is recorded (entrozip eval image --codec {args.model} ..., then "
              f"scripts/record_kodak.py {args.model} RESULTS.json)")
    return 0


def cmd_train_splat(args) -> int:
    from .train.splat import train

    result = train(args.data, args.out, iterations=args.iterations, cap=args.cap, test_every=args.test_every,
                   max_side=args.max_side, seed=args.seed, qat_steps=args.qat_steps, qat_quality=args.qat_quality)
    print(f"{'quality':>10} {'ratio':>7} {'PSNR':>7} {'loss dB':>8} {'SSIM':>7} {'Gaussians':>10}")
    for r in result["rows"]:
        q = "source" if r["quality"] is None else r["quality"]
        if "error" in r:
            print(f"{q:>10} could not run: {r['error']}")
            continue
        print(f"{q:>10} {r['ratio']:>7.1f} {r['psnr']:>7.2f} {r.get('psnr_loss', 0):>8.3f} {r['ssim']:>7.4f} "
              f"{r['gaussians']:>10,}")
    print(f"scene: {args.out}/scene.ply, results: {args.out}/splat_train.json ({result['minutes']:.1f} min)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="entrozip", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"entrozip {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    threads = argparse.ArgumentParser(add_help=False)
    threads.add_argument("--threads", type=_positive_int, default=None,
                         help="CPU threads for the coder (default: all cores; never changes the bytes)")

    c = sub.add_parser("compress", parents=[threads], help="compress a file into an .ezc container",
                       description="Compress IN into the .ezc container OUT.")
    c.add_argument("input", metavar="IN", help="a file, a folder (every file in it), or - for stdin")
    c.add_argument("output", metavar="OUT", help="a file, a folder (when IN is one), or - for stdout")
    c.add_argument("--codec", default=None,
                   help="codec id: image, splat, splat4d, video or bytes (default: image for images, splat for 3DGS "
                        ".ply scenes, splat4d for 4DGS scene folders, video for .mp4/.mkv/.y4m/..., else bytes)")
    c.add_argument("--model", default=None, help="image model (default: per quality, the shipped model with the smallest Kodak "
                                                "RD cost; entrozip info --models lists it)")
    c.add_argument("--quality", type=int, default=None, help="image and video quality 1 (smallest) .. 8 (best), default 4; splat and splat4d quality 1 .. 6, default 3")
    c.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    c.add_argument("--intra-period", type=_positive_int, default=None, help="video: intra frames at most N apart (default 32)")
    c.add_argument("--inter-kinds", default=None,
                   help="video: how frames between intra periods may be coded: P (spatiotemporal model), R "
                        "(latent residual, intra model) and M (latent residual against the motion-compensated "
                        "previous frame), each tried as a chain over every group of pictures, the chain of least "
                        "rate + lambda x distortion kept; I: intra wherever that costs less (intra refresh; I alone "
                        "codes every frame intra); default P,R,M,I; fewer kinds encode faster")
    c.add_argument("--frames", type=_positive_int, default=None, help="video: code at most this many frames")
    c.add_argument("--rdoq", type=float, default=None,
                   help="image and video: rate-distortion optimised rounding of the latents, the bits one unit of "
                        "squared latent error is worth (0 rounds to nearest; default: measured per model, 20 for "
                        "elic and video, 0 for s2lic)")
    c.add_argument("--weights", default=None, help="image: a folder of exported weights (entrozip train image --out) "
                                                   "instead of the shipped ones")
    c.set_defaults(func=cmd_compress)

    d = sub.add_parser("decompress", parents=[threads], help="restore a file from an .ezc container",
                       description="Decompress the .ezc container IN to OUT; the codec is read from IN.")
    d.add_argument("input", metavar="IN", help="an .ezc file, a folder of them, or - for stdin")
    d.add_argument("output", metavar="OUT", help="a file (PNG for images), a folder, or - for stdout")
    d.add_argument("--weights", default=None, help="image: the exported weights folder the file was written with")
    d.set_defaults(func=cmd_decompress)

    i = sub.add_parser("info", help="show what an .ezc file (or a compressed weights directory) holds",
                       description="Print the container header, sections and rANS stream summaries of FILE, "
                                   "or the sizes of a compressed weights directory.")
    i.add_argument("file", metavar="FILE", nargs="?")
    i.add_argument("--models", action="store_true", help="list the image models and the qualities each offers")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.add_argument("--no-verify", action="store_true", help="skip the payload CRC checks")
    i.set_defaults(func=cmd_info)

    w = sub.add_parser("weights", help="lossless LLM weights (DFloat11-style), directory to directory",
                       description="Lossless compression of model weight directories (safetensors): exponents "
                                   "entropy-coded, sign and mantissa raw; bf16, fp16, fp32, fp8.")
    wsub = w.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("compress", "compress a model directory SRC into DST"),
                         ("decompress", "rebuild the original directory DST from the compressed SRC "
                                        "(entrozip or official DFloat11)"),
                         ("convert", "official DFloat11 SRC -> entrozip DST, or entrozip SRC -> official DST")):
        a = wsub.add_parser(action, parents=[threads], help=text, description=text)
        a.add_argument("src", metavar="SRC")
        a.add_argument("dst", metavar="DST")
        a.add_argument("--force", action="store_true", help="replace DST if it exists")
        if action == "compress":
            a.add_argument("--layout", default="compact", choices=("compact", "gpu", "latency"),
                           help="stream chunking: compact (smallest), gpu (~0.1 %% larger, ~3x shorter chunks) "
                                "or latency (~0.4 %% larger, <= 512 rows a chunk: ~12x shorter per-tensor GPU "
                                "decodes than compact, for keep_compressed inference)")
        if action == "convert":
            a.add_argument("--pattern-dict", default=None, metavar="JSON",
                           help="units of the official format, e.g. '{\"lm_head\": []}' "
                                "(default: the Llama-family layout)")
    a = wsub.add_parser("info", help="sizes and bits per value of a compressed directory")
    a.add_argument("src", metavar="DIR")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.add_argument("--tensors", action="store_true", help="one line per tensor")
    a = wsub.add_parser("verify", parents=[threads], help="check that DST decodes to exactly the directory SRC",
                        description="Decode every tensor of the compressed DST and compare it with the original SRC.")
    a.add_argument("src", metavar="SRC")
    a.add_argument("dst", metavar="DST")
    w.set_defaults(func=cmd_weights)

    e = sub.add_parser("eval", help="rate-distortion evaluation against classic codecs and published anchors",
                       description="Evaluate codecs over a dataset at several qualities: bpp, PSNR, MS-SSIM, "
                                   "times, memory; curves (JSON, CSV, PNG) and a BD-rate table. Resumes.")
    esub = e.add_subparsers(dest="kind", metavar="KIND", required=True)
    ei = esub.add_parser("image", help="image codecs (jpeg, jpeg444, webp, avif, avif420, elic, mbt2018-mean, s2lic)")
    ei.add_argument("--dataset", required=True, help="folder of images (e.g. ../shared/data/kodak)")
    ei.add_argument("--codec", default="jpeg,webp,avif", help="comma-separated codecs (default: jpeg,webp,avif)")
    ei.add_argument("--out", required=True, help="output folder (re-running resumes)")
    ei.add_argument("--qualities", default=None, help="comma-separated qualities (default: each codec's sweep)")
    ei.add_argument("--limit", type=_positive_int, default=None, help="only the first N images")
    ei.add_argument("--weights", default=None, help="folder of exported weights (entrozip train image --out) for "
                                                    "the learned models it holds; the others use the shipped ones")
    ei.add_argument("--anchor", default="vtm", help="BD-rate reference: a codec above or a published anchor "
                                                    "(vtm, bpg444, av1, hm, elic, ...; default vtm)")
    ei.add_argument("--plot-anchors", default="vtm,bpg444,elic,tcm-large,s2lic",
                    help="published curves drawn in the plots")
    ei.add_argument("--anchor-dataset", default="kodak", help="which published anchors (default kodak)")
    ei.set_defaults(func=cmd_eval)
    ev = esub.add_parser("video", help="video codecs through ffmpeg (x264, x265, svtav1, vvenc: low delay, GOP 32; "
                                       "-ra: their random-access defaults) and stem")
    src = ev.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="a video file (mp4, mkv, y4m, ...)")
    src.add_argument("--dataset", help="a folder of video files: each evaluated into OUT/<clip>/, "
                                       "plus a BD-rate table over the clips in OUT/bd_rates.md")
    ev.add_argument("--codec", default="x264,x265,svtav1,vvenc", help="comma-separated codecs (stem: ours)")
    ev.add_argument("--out", required=True, help="output folder (re-running resumes)")
    ev.add_argument("--frames", type=_positive_int, default=None, help="only the first N frames")
    ev.add_argument("--anchor", default="x264", help="BD-rate reference among the codecs (default x264)")
    ev.set_defaults(func=cmd_eval_video)

    es = esub.add_parser("splat", help="the splat codec on .ply scenes: size vs rendered PSNR/SSIM (CPU renderer)")
    es.add_argument("--dataset", required=True, help="a .ply scene or a folder of them (e.g. ../shared/data/splat)")
    es.add_argument("--out", required=True, help="output folder (re-running resumes)")
    es.add_argument("--qualities", default=None, help="comma-separated qualities (default: all)")
    es.add_argument("--views", type=_positive_int, default=4, help="orbit views rendered per scene (default 4)")
    es.add_argument("--size", type=_positive_int, default=256, help="rendered image side in pixels (default 256)")
    es.set_defaults(func=cmd_eval_splat)
    e4 = esub.add_parser("splat4d", help="the splat4d codec on a 4DGS scene folder: size vs rendered PSNR over time")
    e4.add_argument("--scene", required=True, help="a 4DGS scene folder (point_cloud.ply + deformation.safetensors)")
    e4.add_argument("--out", required=True, help="output folder")
    e4.add_argument("--qualities", default=None, help="comma-separated qualities (default: all)")
    e4.add_argument("--times", type=_positive_int, default=5, help="instants rendered in [0, 1) (default 5)")
    e4.add_argument("--views", type=_positive_int, default=4, help="orbit views per instant (default 4)")
    e4.add_argument("--size", type=_positive_int, default=192, help="rendered image side in pixels (default 192)")
    e4.set_defaults(func=cmd_eval_splat4d)

    t = sub.add_parser("train", help="train a model (variable rate: one set of weights for all qualities)",
                       description="Train an image model on random crops of image folders for a time budget; "
                                   "exports bf16 safetensors weights (with a manifest entry) at checkpoints.")
    tsub = t.add_subparsers(dest="kind", metavar="KIND", required=True)
    ti = tsub.add_parser("image", help="an image model")
    ti.add_argument("--model", default="elic", help="elic, mbt2018-mean, s2lic, s2lic-code or s2lic-paper (default elic)")
    ti.add_argument("--data", required=True, help="comma-separated image folders (e.g. ../shared/data/bsds500/train)")
    ti.add_argument("--out", required=True, help="where the weights and the log go")
    ti.add_argument("--minutes", type=float, required=True, help="wall-time budget")
    ti.add_argument("--batch", type=_positive_int, default=8)
    ti.add_argument("--crop", type=_positive_int, default=256, help="crop size (multiple of 64; 128 on a CPU)")
    ti.add_argument("--lr", type=float, default=2e-4)
    ti.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ti.add_argument("--resume", default=None, help="an OUT folder of an earlier run (continues from its training state, float32 + Adam, when it "
                    "has one, else from its exported weights), or 'package' for the shipped weights")
    ti.add_argument("--seed", type=int, default=0)
    ti.add_argument("--kodak", default=None, help="Kodak folder for the checkpoint check (real coding)")
    ti.add_argument("--checkpoint-minutes", type=float, default=15.0)
    ti.add_argument("--metric", default="mse", choices=("mse", "ms-ssim"), help="distortion trained for")
    ti.add_argument("--ship", action="store_true", help="copy the final weights into the package")
    ti.add_argument("--compile", action="store_true", help="torch.compile the training step (GPU runs)")
    ti.set_defaults(func=cmd_train)

    ts = tsub.add_parser("splat", help="a 3DGS scene from posed images (gsplat, CUDA GPU), then compressed and scored")
    ts.add_argument("data", help="a transforms.json folder (e.g. ../shared/data/multiview/lego)")
    ts.add_argument("--out", required=True, help="output folder: scene.ply, splat_train.json")
    ts.add_argument("--iterations", type=_positive_int, default=7000, help="training steps (default 7000)")
    ts.add_argument("--cap", type=_positive_int, default=150_000, help="most Gaussians (default 150000)")
    ts.add_argument("--test-every", type=_positive_int, default=8, help="hold out every N-th view (default 8)")
    ts.add_argument("--max-side", type=_positive_int, default=800, help="downscale images to this side (default 800)")
    ts.add_argument("--qat-steps", type=int, default=1000, help="quantisation-aware fine-tuning steps (default 1000)")
    ts.add_argument("--qat-quality", type=int, default=3, help="splat quality whose grids QAT uses (default 3)")
    ts.add_argument("--seed", type=int, default=0)
    ts.set_defaults(func=cmd_train_splat)

    tv = tsub.add_parser("video", help="the video model's spatiotemporal entropy model, on synthetic clips")
    tv.add_argument("--data", required=True, help="comma-separated photo folders (e.g. ../shared/data/bsds500/train)")
    tv.add_argument("--out", required=True, help="where the weights and the log go")
    tv.add_argument("--minutes", type=float, required=True, help="wall-time budget")
    tv.add_argument("--batch", type=_positive_int, default=8)
    tv.add_argument("--crop", type=_positive_int, default=128, help="clip frame size (multiple of 64)")
    tv.add_argument("--frames", type=_positive_int, default=3, help="frames per training clip (default 3)")
    tv.add_argument("--lr", type=float, default=2e-4)
    tv.add_argument("--lr-final", type=float, default=None, help="cosine-decayed to this (default lr / 10)")
    tv.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    tv.add_argument("--seed", type=int, default=0)
    tv.add_argument("--resume", default=None, help="continue from 'package' (the shipped video weights) or an OUT folder")
    tv.add_argument("--transforms", action="store_true",
                    help="fine-tune the analysis / synthesis transforms too (rate + distortion of every frame); "
                         "they become the video model's own")
    tv.add_argument("--transform-lr", type=float, default=None, help="their learning rate (default lr / 10)")
    tv.add_argument("--ship", action="store_true", help="copy the final weights into the package")
    tv.set_defaults(func=cmd_train_video)

    m = sub.add_parser("demo", parents=[threads], help="compress a bundled Kodak photo; bpp, PSNR, times",
                       description="Compress and decompress a real photo (bundled kodim23, or --image) with the "
                                   "image codec (bpp, PSNR, times), then code its pixels through the rANS coder "
                                   "alone (size vs ideal, MB/s).")
    m.add_argument("--image", default=None, help="use this image instead of the bundled one")
    m.add_argument("--model", default=None, help="image model (default: per quality, as compress)")
    m.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    m.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (EntrozipError, ValueError, TypeError, OSError, ImportError) as e:
        msg = str(e) if not isinstance(e, OSError) or not e.filename else f"{e.filename}: {e.strerror}"
        print(f"entrozip: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("entrozip: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The `entrozip` command line: compress, decompress, info, demo.

Every error a user can cause (bad file, wrong option) ends as one line on
stderr and exit status 2; no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import __version__
from .errors import EntrozipError

DESCRIPTION = """\
entrozip: learned compression on one rANS entropy layer.

  entrozip demo                       code a bundled Kodak photo through the coder
  entrozip compress IN OUT.ezc        compress a file into an .ezc container
  entrozip decompress IN.ezc OUT      restore it (the codec is read from the file)
  entrozip info FILE.ezc              show what a file holds
  entrozip weights compress SRC DST   lossless LLM weights (DFloat11-style), directory to directory
  entrozip eval image --dataset DIR --codec jpeg,webp,avif --out OUT   RD curves + BD-rates
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


def cmd_compress(args) -> int:
    from .codecs import open_codec

    codec = open_codec(args.codec, threads=args.threads)
    t = time.perf_counter()
    codec.compress_file(args.input, args.output)
    dt = time.perf_counter() - t
    src, dst = os.path.getsize(args.input), os.path.getsize(args.output)
    ratio = src / dst if dst else float("inf")
    print(f"{args.input} -> {args.output}: {_size(src)} -> {_size(dst)} (ratio {ratio:.3f}, {args.codec}, {dt:.2f} s)")
    return 0


def cmd_decompress(args) -> int:
    from .codecs import codec_for_file

    codec = codec_for_file(args.input, threads=args.threads)
    t = time.perf_counter()
    codec.decompress_file(args.input, args.output)
    dt = time.perf_counter() - t
    print(f"{args.input} -> {args.output}: {_size(os.path.getsize(args.output))} ({codec.codec_id}, {dt:.2f} s)")
    return 0


def cmd_info(args) -> int:
    from . import rans
    from .container import read_file

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
    if args.json:
        print(json.dumps({"file": args.file, "size": c.size, "format_version": c.version, "codec": c.codec,
                          "header": c.header, "sections": sections}, indent=2))
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
    return 0


def cmd_weights(args) -> int:
    from . import weights

    if args.action == "compress":
        m = weights.compress(args.src, args.dst, threads=args.threads, overwrite=args.force)
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
        results[name] = harness.evaluate_codec(name, args.dataset, out, qualities, args.limit)
    report.write_csv(results, out)
    anchors = [a for a in args.plot_anchors.split(",") if a]
    report.plot(results, out, anchors, args.anchor_dataset)
    table = report.bd_table(results, args.anchor, args.anchor_dataset)
    (out / "bd_rates.md").write_text(table)
    print(table)
    print(f"results: {out}/*.json (CompressAI layout), summary.csv, items.csv, rd_psnr.png, rd_ms_ssim.png, bd_rates.md")
    return 0


def cmd_eval_video(args) -> int:
    from pathlib import Path

    from .eval import report, video

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = video.evaluate([c for c in args.codec.split(",") if c], args.video, out, args.frames)
    table = report.video_report(results, out, args.anchor)
    (out / "bd_rates.md").write_text(table)
    print(table)
    print(f"results: {out}/*.json, rd_video.png, bd_rates.md (command lines in each JSON's meta)")
    return 0


def cmd_demo(args) -> int:
    from .demo import run

    rows = run(args.image, threads=args.threads)
    return 0 if all(r["lossless"] for r in rows) else 1


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
    c.add_argument("input", metavar="IN")
    c.add_argument("output", metavar="OUT")
    c.add_argument("--codec", default="bytes", help="codec id (default: bytes, lossless order-0 rANS)")
    c.set_defaults(func=cmd_compress)

    d = sub.add_parser("decompress", parents=[threads], help="restore a file from an .ezc container",
                       description="Decompress the .ezc container IN to OUT; the codec is read from IN.")
    d.add_argument("input", metavar="IN")
    d.add_argument("output", metavar="OUT")
    d.set_defaults(func=cmd_decompress)

    i = sub.add_parser("info", help="show what an .ezc file (or a compressed weights directory) holds",
                       description="Print the container header, sections and rANS stream summaries of FILE, "
                                   "or the sizes of a compressed weights directory.")
    i.add_argument("file", metavar="FILE")
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
    ei = esub.add_parser("image", help="image codecs (jpeg, jpeg444, webp, avif, avif420)")
    ei.add_argument("--dataset", required=True, help="folder of images (e.g. ../shared/data/kodak)")
    ei.add_argument("--codec", default="jpeg,webp,avif", help="comma-separated codecs (default: jpeg,webp,avif)")
    ei.add_argument("--out", required=True, help="output folder (re-running resumes)")
    ei.add_argument("--qualities", default=None, help="comma-separated qualities (default: each codec's sweep)")
    ei.add_argument("--limit", type=_positive_int, default=None, help="only the first N images")
    ei.add_argument("--anchor", default="vtm", help="BD-rate reference: a codec above or a published anchor "
                                                    "(vtm, bpg444, av1, hm, elic, ...; default vtm)")
    ei.add_argument("--plot-anchors", default="vtm,bpg444,elic,tcm-large,s2lic",
                    help="published curves drawn in the plots")
    ei.add_argument("--anchor-dataset", default="kodak", help="which published anchors (default kodak)")
    ei.set_defaults(func=cmd_eval)
    ev = esub.add_parser("video", help="video baselines through ffmpeg (x264, x265, svtav1, vvenc)")
    ev.add_argument("--video", required=True, help="a video file (mp4, mkv, y4m, ...)")
    ev.add_argument("--codec", default="x264,x265,svtav1,vvenc", help="comma-separated codecs")
    ev.add_argument("--out", required=True, help="output folder (re-running resumes)")
    ev.add_argument("--frames", type=_positive_int, default=None, help="only the first N frames")
    ev.add_argument("--anchor", default="x264", help="BD-rate reference among the codecs (default x264)")
    ev.set_defaults(func=cmd_eval_video)

    m = sub.add_parser("demo", parents=[threads], help="code a bundled Kodak photo through the rANS coder",
                       description="Code the pixels of a real photo (bundled kodim23, or --image) through "
                                   "the rANS coder and print size vs ideal and MB/s.")
    m.add_argument("--image", default=None, help="use this image instead of the bundled one")
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

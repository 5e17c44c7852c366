"""Compress a model into deployable files: `python -m vitspace.compress --model NAME --out DIR [...]`.

One file per variant in DIR (`--help` lists them; each backend in vitspace/export/ registers its own),
each written atomically. DIR/manifest.json records each file's size, sha256, the passes that ran and
its fidelity: the file is loaded in its own runtime and run on real images, one at a time, against
the eager fp32 model. Calibration and fidelity images come from --eval-data (an ImageFolder, which
also gives accuracy) or the repository's examples/; int8 calibration uses a subset of the same images.
A variant that fails is recorded as failed with the reason, one whose runtime is not installed as
skipped, and the others still build. Exit status 1 when any variant failed, 2 on bad arguments or a
model that cannot be loaded.
"""
import argparse
import json
import sys
from pathlib import Path

from ..classify.classifier import get_classifier
from ..errors import command
from ..export import VARIANTS, default_files
from ..util import cli
from .build import GATE_MIN_IMAGES, CompressConfig, check_config, compress
from .manifest import Manifest


def _print_text(manifest: Manifest, out: Path) -> None:
    print(f"{manifest.model} ({manifest.weights_label}), engine {manifest.engine}, "
          f"{manifest.images['count']} images from {manifest.images['source']} -> {out}")
    print(f"  {manifest.cpu['class']}; int8 activations {manifest.cpu['precision']['int8_activations']}")
    if manifest.eager_accuracy is not None:
        print(f"  eager fp32 accuracy {manifest.eager_accuracy:.2%}")
    fastest = manifest.fastest()
    for f in manifest.files:
        if f.status != "ok":
            print(f"  {f.file:<18} {f.status.upper()}  {f.reason}")
            continue
        fid = f.fidelity
        acc = f"  accuracy {fid.accuracy:.2%}" if fid.accuracy is not None else ""
        print(f"  {f.file:<18} {f.size_bytes / 1e6:7.2f} MB  top-1 agreement {fid.top1_agreement:.2%} ({f.gate})  "
              f"max |dlogit| {fid.max_abs_logit_diff:.3g} (relative {fid.max_rel_logit_diff:.2g}){acc}"
              + (f"  {manifest.fast_path_note(f)}" if f is fastest else ""))


@command
def main(argv=None) -> int:
    p = cli.parser("compress", __doc__)
    cli.add_model(p, required=True)
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--files", nargs="+", choices=list(VARIANTS), default=list(default_files()),
                   metavar="FILE", help=f"files to build: {' '.join(VARIANTS)} (default: all but token "
                                       f"merging's, {' '.join(default_files())})")
    p.add_argument("--formats", nargs="+", choices=list(VARIANTS), dest="files", default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the old name of --files
    p.add_argument("--engine", default="auto", choices=["auto", "x86", "onednn", "fbgemm", "qnnpack"],
                   help="quantized engine for int8 TorchScript (auto: x86 on x86-64, qnnpack on ARM)")
    p.add_argument("--eval-data", type=Path, help="ImageFolder DIR/<class>/*: fidelity images and accuracy")
    p.add_argument("--limit", type=int, help=f"fidelity images at most (default 100; with --eval-data "
                                              f"{GATE_MIN_IMAGES}, the fidelity gate's minimum)")
    p.add_argument("--pte-int8", choices=["static", "dynamic"], default="static",
                   help="model-int8.pte activations: static, calibrated on the images (default), or dynamic")
    p.add_argument("--random-weights", action="store_true", help="architecture only: no weights needed")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    args = p.parse_args(argv)
    limit = args.limit or (GATE_MIN_IMAGES if args.eval_data else 100)
    config = CompressConfig(args.model, args.out, tuple(dict.fromkeys(args.files)), args.engine, args.eval_data,
                            limit, pte_int8=args.pte_int8, pretrained=not args.random_weights)
    check_config(config)
    manifest = compress(get_classifier(config.model, config.pretrained), config,
                        progress=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(manifest.to_dict(), indent=2))
    else:
        _print_text(manifest, args.out)
    return 1 if manifest.failed else 0


if __name__ == "__main__":
    sys.exit(main())

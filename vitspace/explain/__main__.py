"""Where ViT and DeiT look: attention maps, and DeiT's two heads side by side.

    python -m vitspace.explain IMAGE --model NAME [--method rollout|last] [--out FILE.png] [--json]
    python -m vitspace.explain --model NAME --runtime-files FOLDER

Maps come from the same forward pass as the logits: hooks keep each attention layer's queries and keys
(and DeiT's two head outputs), and the attention probabilities are computed from them afterwards, so the
model keeps its fused attention kernel. Methods: "rollout" (Abnar & Zuidema 2020: heads averaged, identity
added for the residual path, rows normalised, multiplied across layers) or "last" (the last layer's
attention). Each map is the attention of one token (class, and distillation for DeiT) over the patch grid,
normalised to sum to 1. Exit status 2 on bad input (unknown model, unreadable image, no weights, a model
without attention).

--runtime-files exports the files that Classify's runtimes read (the explained forward as ONNX and as an
ExecuTorch program) into FOLDER, each apart, at low priority: the app runs it in a child process that ends
with the app (`explain.choice`).
"""
import json
import re
import sys
from pathlib import Path

from ..errors import command
from ..util import cli
from ..util.background import as_background_child
from .attention import METHODS
from .choice import export_files
from .explanation import explain
from .figure import answer_line, figure


def _dumps(obj) -> str:
    """JSON with each innermost list of numbers on one line, so a map reads as a grid."""
    return re.sub(r"\[\s*([-0-9.e+,\s]+?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]",
                  json.dumps(obj, indent=2))


@command
def main(argv=None) -> int:
    p = cli.parser("explain", __doc__)
    p.add_argument("image", metavar="IMAGE", nargs="?")
    cli.add_model(p, required=True)
    p.add_argument("--method", choices=METHODS, default="rollout", help="(default: rollout)")
    p.add_argument("--out", metavar="FILE.png", help="write the figure: maps over the image, colour bar, heads")
    p.add_argument("--size", type=int, default=256, metavar="PX",
                   help="small images are enlarged to at least this many pixels a side (default: 256)")
    p.add_argument("--random-weights", action="store_true", help="architecture only: no weights needed")
    p.add_argument("--json", action="store_true", help="print the maps (patch rows x columns) and the heads' answers")
    p.add_argument("--runtime-files", metavar="FOLDER", type=Path,
                   help="export the files of Classify's runtimes into FOLDER instead (no IMAGE)")
    args = p.parse_args(argv)
    if args.runtime_files:
        as_background_child()
        done = export_files(args.model, not args.random_weights, args.runtime_files)
        print("\n".join(f"{file}: {state}" for file, state in done.items()))
        return 0
    if not args.image:
        p.error("give an IMAGE")
    if not (args.out or args.json):
        p.error("nothing to do: give --out FILE.png, --json, or both")
    e = explain(args.model, args.image, method=args.method, pretrained=not args.random_weights)
    if args.out:
        try:
            figure(e, min_side=args.size).save(args.out)
        except (OSError, ValueError) as err:  # cannot be written, or the suffix names no image format
            print(f"error: cannot write {args.out}: {err}", file=sys.stderr)
            return 2
    if args.json:
        print(_dumps({"image": args.image} | e.to_dict()))
    else:
        print(f"{args.out}: {e.model}, {answer_line('answer', e.answer)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

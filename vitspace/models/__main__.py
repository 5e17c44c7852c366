"""List the registered models, and say how to name any other: `python -m vitspace.models [--json]`."""
import json
import sys
from dataclasses import asdict

from ..errors import command
from ..util import cli
from .factory import model_info
from .registry import list_models
from .resolve import NAMING, SUPPORTED

__all__ = ["main"]


@command
def main(argv=None) -> int:
    p = cli.parser("models", __doc__)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    args = p.parse_args(argv)
    infos = [model_info(n) for n in list_models()]
    if args.json:
        print(json.dumps([asdict(i) | {"available": i.available} for i in infos], indent=2))
        return 0
    print(f"{'name':<20} {'source':<9} {'params':>8} {'input':>5} {'labels':>6}  weights")
    for i in infos:
        origin = i.origin if i.available else "unavailable (architecture only)"
        print(f"{i.name:<20} {i.source:<9} {i.params / 1e6:>7.1f}M {i.input_size:>5} {i.num_labels:>6}  {origin}")
    print(f"\nA model is {NAMING}: vit-base, someone/vit-finetuned-pets@v2, "
          f"timm/deit_small_distilled_patch16_224.fb_in1k, ./my-vit.\nSupported: {SUPPORTED}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

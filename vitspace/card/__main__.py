"""Model cards for compressed builds: `python -m vitspace.card --model NAME --artifacts DIR [...]`.

The card is `templates/modelcard.md` rendered by huggingface_hub's `ModelCard.from_template`, its
YAML front matter a `ModelCardData`. It draws on the build's manifest.json (files, sizes, hashes,
fidelity), an optional benchmark JSON and, for embedded models with real weights, the weights'
JSON sidecar (training recipe and test accuracy). A section without data is left out.

Prints the card, or writes it with --out (an existing file is kept unless --force). Exit status 2
on bad arguments or unusable artifacts.
"""
import sys
from pathlib import Path

from ..errors import command
from ..util import atomic, cli
from .build import render_card
from .hub_rules import validate_card


@command
def main(argv=None) -> int:
    p = cli.parser("card", __doc__)
    p.add_argument("--model", required=True, help="registry name, Hub id (owner/name[@revision]) or model folder")
    p.add_argument("--artifacts", required=True, type=Path, help="a compress build: manifest.json and its files")
    p.add_argument("--benchmark", type=Path, help='benchmark JSON: {"machine": {...}, "results": [...]}')
    p.add_argument("--repo-id", help="the Hub repository the card is for (adds a download snippet)")
    p.add_argument("--out", type=Path, help="write the card here instead of printing it")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    args = p.parse_args(argv)
    if args.out and args.out.exists() and not args.force:
        print(f"error: {args.out} exists; vitspace never overwrites a README without --force", file=sys.stderr)
        return 2
    text = render_card(args.model, args.artifacts, args.benchmark, repo_id=args.repo_id)
    validate_card(text)
    if args.out:
        atomic.write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

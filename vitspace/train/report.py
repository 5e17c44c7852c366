"""What a training log says: which machine ran which epochs, the CPU hours they took, and top-1 by epoch.
For the embedded models, the table and the figure that the README and the model cards show.

    python -m vitspace.train.report [--png docs/training-curves.png] [--readme README.md] [--weights DIR]

prints the table (Markdown) of the embedded teacher and students; --readme puts it in place of the
one in that file; --png draws both students' test top-1 by epoch, the teacher's accuracy beside them.
"""
import sys
from pathlib import Path

from ..errors import command
from ..models.registry import WEIGHTS_DIR
from ..util import atomic, cli
from .record import CURVES_FILE, draw, embedded, replace_table, table


@command
def main(argv=None) -> int:
    p = cli.parser("train.report", __doc__)
    p.add_argument("--weights", type=Path, default=WEIGHTS_DIR, help="folder of <model>.json (default: the embedded)")
    p.add_argument("--readme", type=Path, help="replace the table in this Markdown file (the README's)")
    p.add_argument("--png", type=Path, help=f"draw the curves here (the committed one: docs/{CURVES_FILE})")
    args = p.parse_args(argv)
    models = embedded(args.weights)
    if not models:
        print(f"error: no embedded model's JSON in {args.weights}", file=sys.stderr)
        return 2
    sys.stdout.write(table(models))
    if args.readme:
        try:
            atomic.write_text(args.readme, replace_table(args.readme.read_text(), table(models)))
        except (OSError, ValueError) as e:
            print(f"error: {args.readme}: {e}", file=sys.stderr)
            return 2
    if args.png:
        print(f"wrote {draw(models, args.png)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

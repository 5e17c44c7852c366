"""Top-1 and top-5 accuracy on an image folder: `python -m vitspace.classify.evaluate --model NAME --data DIR [--json]`.

DIR holds one folder per class (`DIR/<class>/*`); class folders are matched to the model's labels by
name (case-insensitive; any comma-separated synonym of an ImageNet label matches).
"""
import json
import sys
from dataclasses import asdict

from ..errors import command
from ..util import cli
from .accuracy import evaluate
from .classifier import get_classifier


@command
def main(argv=None) -> int:
    p = cli.parser("classify.evaluate", __doc__)
    cli.add_model(p, required=True)
    p.add_argument("--data", required=True, help="image folder: DIR/<class>/<image>")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, help="evaluate on at most this many images, spread over the classes")
    p.add_argument("--random-weights", action="store_true")
    p.add_argument("--json", action="store_true", help='print {"model", "n", "top1", "top5"}')
    args = p.parse_args(argv)
    if args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        p.error("--batch-size and --limit must be at least 1")
    result = evaluate(get_classifier(args.model, pretrained=not args.random_weights), args.data, args.batch_size,
                      args.limit)
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(f"{result.model}: top-1 {result.top1:.2%}  top-5 {result.top5:.2%}  on {result.n} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Top-1 and top-5 accuracy on an image folder: `python -m vitspace.evaluate --model NAME --data DIR [--json]`.

DIR holds one folder per class (`DIR/<class>/*`); class folders are matched to the model's labels by
name (case-insensitive; any comma-separated synonym of an ImageNet label matches).
"""
import json
import sys
from dataclasses import asdict, dataclass

import torch
from tqdm import tqdm

from . import cli
from .data import list_image_folder
from .errors import ImageError, command
from .images import load_image
from .inference import Classifier, get_classifier
from .labels import class_targets

__all__ = ["Accuracy", "evaluate", "main"]


@dataclass
class Accuracy:
    model: str
    n: int
    top1: float
    top5: float


def _load(path, root):
    try:
        return load_image(path)
    except ImageError as e:  # name the bad file: a data set may hold thousands
        raise ImageError(f"{path.relative_to(root)}: {e}") from None


def evaluate(clf: Classifier, data: str, batch_size: int = 64, limit: int | None = None,
             progress: bool = True) -> Accuracy:
    items, classes = list_image_folder(data)
    if limit:
        items = items[::max(1, len(items) // limit)][:limit]  # spread over classes
    targets = torch.tensor(class_targets(classes, clf.labels, clf.name))
    top1 = top5 = n = 0
    for i in tqdm(range(0, len(items), batch_size), desc=f"evaluate {clf.name}", disable=not progress, unit="batch"):
        batch = items[i:i + batch_size]
        images = [_load(p, data) for p, _ in batch]
        y = targets[torch.tensor([c for _, c in batch])]
        top = clf.logits(images).topk(min(5, len(clf.labels)), dim=1).indices
        top1 += (top[:, 0] == y).sum().item()
        top5 += (top == y[:, None]).any(1).sum().item()
        n += len(batch)
    return Accuracy(clf.name, n, top1 / n, top5 / n)


@command
def main(argv=None) -> int:
    p = cli.parser("evaluate", __doc__)
    p.add_argument("--model", required=True)
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

"""Classify images: `python -m vitspace.classify IMAGE... [--model NAME]... [--top-k K] [--json]`.

Without --model, the ViT/DeiT pair: the Hub models when their weights can be had, else the
embedded CIFAR-10 pair. Exit status 1 when any image or model failed, 2 on bad arguments.
"""
import json
import sys

from ..compress.fastpath import classifier
from ..errors import ImageError, VitspaceError, command
from ..util import cli
from .classifier import default_pair

__all__ = ["classify", "main"]


def classify(images: list[str], models: list[str], top_k: int = 5, pretrained: bool = True,
             fast: bool = False) -> list[dict]:
    """One result per (image, model): a prediction dict, or {"image", "model", "error"} for a vitspace error."""
    results = []
    for model in models:
        try:
            clf = classifier(model, pretrained=pretrained, fast=fast)
        except VitspaceError as e:
            results += [{"image": img, "model": model, "error": str(e)} for img in images]
            continue
        for img in images:
            try:
                results.append({"image": img} | clf.predict(img, top_k=top_k).to_dict())
            except ImageError as e:
                results.append({"image": img, "model": clf.name, "error": str(e)})
    order = {img: i for i, img in enumerate(images)}
    return sorted(results, key=lambda r: order[r["image"]])  # stable: models keep their order per image


def _print_text(results: list[dict]) -> None:
    last = None
    for r in results:
        if r["image"] != last:
            print(r["image"])
            last = r["image"]
        if "error" in r:
            print(f"  {r['model']}: error: {r['error']}")
        else:
            top = ", ".join(f"{t['label']} {t['score']:.3f}" for t in r["topk"])
            print(f"  {r['model']}: {top}  ({r['latency_ms']:.1f} ms)")


@command
def main(argv=None) -> int:
    p = cli.parser("classify", __doc__)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    cli.add_model(p, action="append", help=f"{cli.MODEL_HELP}; repeatable")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--random-weights", action="store_true", help="architecture only: no weights needed")
    p.add_argument("--fast", action="store_true",
                   help="vitspace's fast CPU path: int8 for x86, compiled (built and cached on first use)")
    p.add_argument("--json", action="store_true", help='print {"results": [...]}')
    args = p.parse_args(argv)
    if args.top_k < 1:
        p.error("--top-k must be at least 1")
    results = classify(args.images, args.model or list(default_pair()), args.top_k, not args.random_weights,
                       args.fast)
    if args.json:
        print(json.dumps({"results": results}, indent=2))
    else:
        _print_text(results)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

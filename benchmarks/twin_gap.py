"""Is the DeiT's lead over its ViT twin a measured gain? A paired comparison on a CIFAR-10 test folder, in fp32.

    python benchmarks/twin_gap.py --data DIR [--pair vit-tiny-cifar10 deit-tiny-cifar10]

Both models see the same images, so what decides is the images only one of them gets right: McNemar's exact
test (a two-sided binomial test on those discordant images) says how likely a lead that large is when the two
are equally good. Prints each model's top-1, the discordant counts, the lead in points and its p-value.
"""
import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vitspace.data.folders import load_split  # noqa: E402
from vitspace.models.factory import create_model  # noqa: E402
from vitspace.train.metrics import logits_of  # noqa: E402


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided p-value of McNemar's exact test: the smaller discordant count under Binomial(n, 1/2)."""
    n, k = only_first + only_second, min(only_first, only_second)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 as image folders: DIR/test/<class>/*.jpg")
    parser.add_argument("--pair", nargs=2, default=["vit-tiny-cifar10", "deit-tiny-cifar10"],
                        metavar=("BASELINE", "CHALLENGER"))
    args = parser.parse_args(argv)
    test = load_split(args.data, "test")
    # the students' top-1 as the classifier gives it (the DeiT's two heads averaged)
    right = [logits_of(create_model(name, pretrained=True).float().eval(), test).argmax(1) == test.labels
             for name in args.pair]
    only_base, only_challenger = int((right[0] & ~right[1]).sum()), int((right[1] & ~right[0]).sum())
    print(json.dumps({"images": len(test)} | {f"top1 {name}": round(r.float().mean().item() * 100, 2)
                                              for name, r in zip(args.pair, right)}
                     | {"both right": int((right[0] & right[1]).sum()), f"only {args.pair[0]}": only_base,
                        f"only {args.pair[1]}": only_challenger,
                        "lead (points)": round((only_challenger - only_base) / len(test) * 100, 2),
                        "p (McNemar, exact)": round(mcnemar_exact(only_base, only_challenger), 4)}))


if __name__ == "__main__":
    main()

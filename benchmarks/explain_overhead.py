"""What attention maps cost: a forward alone vs the same forward with maps and heads, batch 1.

    python benchmarks/explain_overhead.py [--model deit-base] [--calls 10] [--threads 2] [--json FILE]

Architecture only (random weights), so it runs offline. The two are called in turn, call after call, so
that a busy machine slows both alike; each gets its median. Also a whole request both ways: a classify
request (`Classifier.predict`: decode, preprocess, forward, top-5) and `explain` (the same, plus maps,
heads and the model's view of the image). The issue's budget: maps and heads add at most 30%.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ship.jpg"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def medians_ms(fns: dict, calls: int) -> dict[str, float]:
    """Median milliseconds of each function, called in turn after one untimed warm-up call each."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(calls):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


def measure(model: str = "deit-base", calls: int = 10, threads: int = 2) -> dict:
    import torch

    import vitspace
    from vitspace.explain import attention_maps, explain, forward_with_attention
    torch.set_num_threads(threads)
    clf = vitspace.get_classifier(model, pretrained=False)
    image = vitspace.load_image(EXAMPLE)
    pixels = clf.preprocess([image])

    @torch.inference_mode()
    def forward():
        clf.module(pixels)

    def forward_and_maps():
        out = forward_with_attention(clf.module, pixels)
        attention_maps([a[0] for a in out.attentions], out.tokens, "rollout")

    ms = medians_ms({"forward": forward, "forward_maps": forward_and_maps,
                     "classify": lambda: clf.predict(EXAMPLE),
                     "explain": lambda: explain(clf, EXAMPLE, teacher=False)}, calls)
    return {"model": f"{model} (architecture only)", "batch": 1, "threads": threads, "calls": calls, "ms": ms,
            "forward_ratio": round(ms["forward_maps"] / ms["forward"], 3),
            "request_ratio": round(ms["explain"] / ms["classify"], 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="deit-base", metavar="NAME", help="(default: deit-base)")
    p.add_argument("--calls", type=int, default=10, metavar="N", help="timed calls of each (default: 10)")
    p.add_argument("--threads", type=int, default=2, metavar="N", help="torch threads (default: 2)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    args = p.parse_args()
    r = measure(args.model, args.calls, args.threads)
    ms = r["ms"]
    print(f"{r['model']}, batch 1, {args.threads} threads, median of {args.calls} calls")
    print(f"  forward            {ms['forward']:8.1f} ms")
    print(f"  forward + maps     {ms['forward_maps']:8.1f} ms   ratio {r['forward_ratio']:.3f}")
    print(f"  classify request   {ms['classify']:8.1f} ms")
    print(f"  explain request    {ms['explain']:8.1f} ms   ratio {r['request_ratio']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()

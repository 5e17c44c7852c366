"""Classify's runtimes side by side: per model and runtime, the median time of the explained forward (logits, both
methods' maps, DeiT's heads) and how far its answers are from the hooked eager forward's.

    python benchmarks/runtimes.py [--models vit-tiny-cifar10 deit-tiny-cifar10] [--calls 50] [--threads 2]
                                  [--batch 1] [--random] [--builds DIR] [--json FILE]

Run it on a quiet machine: the runtimes are called in turn, call after call, so that a busy machine slows them
alike, but the medians still move with the load. Agreement is measured on the example images: top-1 agreement
with eager and the largest differences of the logits, maps and heads (the choice's gate: 1e-4 each).
The exported files are kept in the build root (default: vitspace's), where Classify finds them.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _medians_ms(runs: dict, pixels, calls: int) -> dict[str, float]:
    """Median milliseconds of each run on the same pixels, called in turn after one untimed warm-up call each."""
    times = {name: [] for name in runs}
    for run in runs.values():
        run(pixels)
    for _ in range(calls):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run(pixels)
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def measure(model: str, *, calls: int = 50, threads: int = 2, batch: int = 1, pretrained: bool = True,
            builds: Path | None = None) -> list[dict]:
    """One row per runtime of the model: status, p50_ms, top-1 agreement and max differences, or why it did not run."""
    import torch

    import vitspace
    from vitspace.errors import reason
    from vitspace.explain import choice
    from vitspace.explain.graph import AttentionGraph, eager_explained
    from vitspace.explain.runtimes import RUNTIMES
    from vitspace.export.variant import missing_packages
    torch.set_num_threads(threads)
    clf = vitspace.get_classifier(model, pretrained)
    graph = AttentionGraph(clf.module, model).eval()
    images = clf.preprocess([vitspace.load_image(p) for p in sorted((ROOT / "examples").glob("*.jpg"))])
    reference = eager_explained(clf.module, images)
    folder = choice.runtime_folder(clf, builds)
    rows, runs = [], {}
    for name, runtime in RUNTIMES.items():
        row = {"model": model, "runtime": name, "precision": runtime.precision, "status": "ok"}
        if not runtime.usable() or missing_packages(runtime):
            rows.append({**row, "status": "skipped", "reason": "not this CPU" if not runtime.usable()
                         else f"not installed: {', '.join(missing_packages(runtime))}"})
            continue
        try:
            run = runtime.load(graph, choice.runtime_file(runtime, graph, images, folder), threads)
            out = run(images)
        except Exception as e:  # recorded, as the choice records it
            rows.append({**row, "status": "failed", "reason": reason(e)})
            continue
        runs[name] = run
        diffs = choice.differences(reference, out)
        agree = (out.logits.argmax(-1) == reference.logits.argmax(-1)).float().mean().item()
        rows.append({**row, "agreement": round(agree, 4), **{f"max_diff_{k}": v for k, v in diffs.items()},
                     "exact": all(diffs[k] <= choice.TOLERANCE[k] for k in diffs)})
    ms = _medians_ms(runs, images[:batch], calls)
    for row in rows:
        row["p50_ms"] = ms.get(row["runtime"])
    return rows


def _table(rows: list[dict]) -> str:
    lines = ["| model | runtime | precision | p50 ms | top-1 agreement | max diff logits / maps / heads | exact |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['status']}: {r['reason']} "
                         "| | | |")
            continue
        diffs = " / ".join(f"{r[f'max_diff_{k}']:.1e}" for k in ("logits", "maps", "heads"))
        lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['p50_ms']:.2f} | "
                     f"{r['agreement']:.0%} | {diffs} | {'yes' if r['exact'] else 'no'} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vit-tiny-cifar10", "deit-tiny-cifar10"], metavar="NAME",
                        help="registry names, Hub ids or folders (default: the embedded pair)")
    parser.add_argument("--calls", type=int, default=50, metavar="N", help="timed calls per runtime (default: 50)")
    parser.add_argument("--threads", type=int, default=2, metavar="N", help="intra-op threads (default: 2)")
    parser.add_argument("--batch", type=int, default=1, metavar="N", help="images per timed call (default: 1)")
    parser.add_argument("--random", action="store_true", help="architecture only, random weights (offline)")
    parser.add_argument("--builds", type=Path, metavar="DIR", help="build root (default: vitspace's)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = [row for model in args.models for row in measure(model, calls=args.calls, threads=args.threads,
                                                              batch=args.batch, pretrained=not args.random,
                                                              builds=args.builds)]
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

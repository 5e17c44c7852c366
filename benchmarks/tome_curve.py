"""Token Merging's speed against agreement curve: what each merge rate r buys and costs.

    python benchmarks/tome_curve.py [--r 0,4,8,12,16] [--data DIR --limit 2000] [--calls 20] [--json FILE]

Speed: p50 latency of DeiT-B (architecture only: random weights, batch 1, --threads) in eager fp32 and
as the fast x86 path (static int8 by PT2E, X86 inductor quantizer, torch.compile with freezing), for
each r; r=0 is the unmerged model itself. The variants are timed in turns, one call each per round,
after untimed warm-up, so load from other processes falls on all of them alike. On a machine shared
with other work the wall clock still swings, so the variants are timed a second time on one thread
for their CPU time (`cpu1`): the work each does, which the other load barely changes.

Agreement: random weights make DeiT-B's predictions meaningless, so top-1 agreement with the unmerged
fp32 model and accuracy are measured on the trained `deit-tiny-cifar10` student, fp32 and int8, on
--limit CIFAR-10 test images (class-balanced). Its 64 patch tokens over 6 blocks mean a given r
removes a larger share of its work than of DeiT-B's 196 over 12 (the GFLOPs column shows both), so
its agreement at an r is a pessimistic stand-in for DeiT-B's, and its own speed-up is small.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vitspace  # noqa: E402
from vitspace.compress.build import GATE_AGREEMENT  # noqa: E402
from vitspace.compress.fidelity import folder_images  # noqa: E402
from vitspace.export import VARIANTS  # noqa: E402
from vitspace.export.pt2 import FAST_FILE, save_int8_x86  # noqa: E402
from vitspace.models.tome import apply_tome, name_for, token_schedule  # noqa: E402
from vitspace.util.cpuinfo import machine_class  # noqa: E402

EXAMPLES = ROOT / "examples"


@dataclass
class Timing:
    model: str
    variant: str                # fp32, tome-r8, int8-x86, int8-x86-tome-r8
    r: int
    precision: str              # fp32 or int8
    gflops: float               # per image, of the fp32 graph (matmuls and attention)
    tokens_out: int             # tokens leaving the last block
    p50_ms: float | None = None     # wall clock, --threads threads
    p90_ms: float | None = None
    cpu_ms: float | None = None     # p50 CPU time of a call on one thread: the work, which other load barely moves
    calls: int = 0
    vs_fp32: float | None = None    # p50 / unmerged fp32 p50
    vs_int8: float | None = None    # p50 / unmerged int8 p50
    cpu_vs_fp32: float | None = None
    cpu_vs_int8: float | None = None
    error: str | None = None


@dataclass
class Fidelity:
    model: str
    variant: str
    r: int
    precision: str
    gflops: float
    agreement: float | None = None  # top-1 agreement with the unmerged fp32 model
    accuracy: float | None = None
    images: int = 0
    error: str | None = None


def variant_name(r: int, precision: str) -> str:
    base = "fp32" if precision == "fp32" else "int8-x86"
    if not r:
        return base
    return name_for(r) if precision == "fp32" else f"{base}-{name_for(r)}"


def merged(model: nn.Module, r: int) -> nn.Module:
    return apply_tome(model, r) if r else model


def gflops(model: nn.Module, example: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example)
    return counter.get_total_flops() / 1e9 / len(example)


def compile_x86(model: nn.Module, r: int, *, example: torch.Tensor, calibration: list[torch.Tensor],
                folder: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model, merged, as the fast path's file (model-int8-x86[-tome-rR].pt2), loaded as vitspace loads it."""
    path = folder / (name_for(r, FAST_FILE) if r else FAST_FILE)
    save_int8_x86(merged(model, r), example, calibration, path)
    return VARIANTS[FAST_FILE].load(path)


def time_in_turns(runners: dict[Any, Callable[[], Any]], calls: int, *, threads: int,
                  warmup: int = 3) -> dict[Any, list[tuple[float, float]]]:
    """(wall, process CPU) milliseconds per call of each runner on `threads` threads; one call of each per round."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            for run in runners.values():
                for _ in range(warmup):
                    run()
            times = {key: [] for key in runners}
            for _ in range(calls):
                for key, run in runners.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    run()
                    times[key].append(((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000))
        return times
    finally:
        torch.set_num_threads(previous)


def latency_curve(name: str, rs: list[int], *, calls: int, threads: int, int8: bool,
                  say: Callable[[str], None]) -> list[Timing]:
    clf = vitspace.get_classifier(name, pretrained=False)
    model = clf.module.eval()
    calibration = [clf.preprocess([vitspace.load_image(p)]) for p in sorted(EXAMPLES.glob("*.jpg"))]
    example = calibration[0]
    rows, runners = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in rs:
            eager = merged(model, r).eval()
            flops, tokens = gflops(eager, example), token_schedule(model, r)[-1]
            rows[r, "fp32"] = Timing(name, variant_name(r, "fp32"), r, "fp32", flops, tokens)
            runners[r, "fp32"] = lambda m=eager: m(example)
            if not int8:
                continue
            row = rows[r, "int8"] = Timing(name, variant_name(r, "int8"), r, "int8", flops, tokens)
            say(f"{name}: building and compiling {row.variant}")
            try:
                run = compile_x86(model, r, example=example, calibration=calibration, folder=Path(tmp))
                run(example)  # compiles
                runners[r, "int8"] = lambda run=run: run(example)
            except Exception as e:  # recorded; the other variants still run
                row.error = f"{type(e).__name__}: {e}"[:500]
        say(f"{name}: timing {len(runners)} variants, {calls} calls each, in turns, on {threads} threads, then on 1")
        wall = time_in_turns(runners, calls, threads=threads)
        work = time_in_turns(runners, calls, threads=1)
    for key, row in rows.items():
        if key in wall:
            ms = [w for w, _ in wall[key]]
            row.p50_ms, row.p90_ms, row.calls = statistics.median(ms), statistics.quantiles(ms, n=10)[-1], len(ms)
            row.cpu_ms = statistics.median(c for _, c in work[key])
    fp32, int8 = rows.get((0, "fp32")), rows.get((0, "int8"))
    for row in rows.values():
        row.vs_fp32, row.vs_int8 = _ratio(row.p50_ms, fp32 and fp32.p50_ms), _ratio(row.p50_ms, int8 and int8.p50_ms)
        row.cpu_vs_fp32 = _ratio(row.cpu_ms, fp32 and fp32.cpu_ms)
        row.cpu_vs_int8 = _ratio(row.cpu_ms, int8 and int8.cpu_ms)
    return list(rows.values())


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def fidelity_curve(name: str, rs: list[int], *, data: Path, limit: int, int8: bool, batch: int,
                   say: Callable[[str], None]) -> list[Fidelity]:
    clf = vitspace.get_classifier(name, pretrained=True)
    model = clf.module.eval()
    probe = folder_images(data, clf.labels, clf.name, limit)  # spread over the classes, as compress picks them
    labels, images = torch.tensor(probe.targets), probe.images
    pixels = torch.cat([clf.preprocess(images[i:i + batch]) for i in range(0, len(images), batch)])
    calibration = list(pixels[::max(1, len(pixels) // 32)][:32].split(1))  # spread over the classes

    def predict(run: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        # one batch size, the last batch padded: a compiled program sees one shape
        padded = torch.cat([pixels, pixels[:(-len(pixels)) % batch]])
        with torch.no_grad():
            return torch.cat([run(padded[i:i + batch]).argmax(1) for i in range(0, len(padded), batch)])[:len(pixels)]

    reference = predict(model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in rs:
            eager = merged(model, r).eval()
            flops = gflops(eager, pixels[:1])
            for precision in ("fp32", "int8") if int8 else ("fp32",):
                row = Fidelity(name, variant_name(r, precision), r, precision, flops, images=len(pixels))
                say(f"{name}: {row.variant} on {len(pixels)} images")
                try:
                    run = eager if precision == "fp32" else compile_x86(
                        model, r, example=pixels[:1], calibration=calibration, folder=Path(tmp))
                    top1 = predict(run)
                    row.agreement = (top1 == reference).float().mean().item()
                    row.accuracy = (top1 == labels).float().mean().item()
                except Exception as e:  # recorded; the other variants still run
                    row.error = f"{type(e).__name__}: {e}"[:500]
                rows.append(row)
    return rows


def best_point(timings: list[Timing], fidelity: list[Fidelity], min_agreement: float) -> dict | None:
    """The fastest timed variant whose (r, precision) keeps the student's agreement >= min_agreement."""
    kept = {(f.r, f.precision): f for f in fidelity if f.agreement is not None and f.agreement >= min_agreement}
    candidates = [t for t in timings if t.p50_ms is not None and (t.r, t.precision) in kept]
    if not candidates:
        return None
    best = min(candidates, key=lambda t: t.p50_ms)
    f = kept[best.r, best.precision]
    return {"variant": best.variant, "r": best.r, "precision": best.precision, "p50_ms": best.p50_ms,
            "vs_fp32": best.vs_fp32, "vs_int8": best.vs_int8, "cpu_vs_fp32": best.cpu_vs_fp32,
            "cpu_vs_int8": best.cpu_vs_int8, "student_agreement": f.agreement,
            "student_accuracy": f.accuracy, "min_agreement": min_agreement}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_tables(timings: list[Timing], fidelity: list[Fidelity], best: dict | None, cpu: str, threads: int) -> None:
    print(f"\nCPU: {cpu}; {threads} threads, batch 1")
    print(f"{'model':<10} {'variant':<18} {'GFLOPs':>6} {'tokens':>6} {'p50 ms':>7} {'p90 ms':>7} {'/fp32':>5} "
          f"{'/int8':>5} {'cpu1 ms':>8} {'/fp32':>5} {'/int8':>5}")
    for t in timings:
        print(f"{t.model:<10} {t.variant:<18} {t.gflops:>6.2f} {t.tokens_out:>6} {_fmt(t.p50_ms, '7.1f'):>7} "
              f"{_fmt(t.p90_ms, '7.1f'):>7} {_fmt(t.vs_fp32, '5.2f'):>5} {_fmt(t.vs_int8, '5.2f'):>5} "
              f"{_fmt(t.cpu_ms, '8.1f'):>8} {_fmt(t.cpu_vs_fp32, '5.2f'):>5} {_fmt(t.cpu_vs_int8, '5.2f'):>5}"
              + (f"  FAILED {t.error}" if t.error else ""))
    print(f"\n{'model':<18} {'variant':<20} {'GFLOPs':>7} {'agreement':>9} {'accuracy':>8} {'images':>6}")
    for f in fidelity:
        print(f"{f.model:<18} {f.variant:<20} {f.gflops:>7.3f} {_fmt(f.agreement, '9.2%'):>9} "
              f"{_fmt(f.accuracy, '8.2%'):>8} {f.images:>6}" + (f"  FAILED {f.error}" if f.error else ""))
    if best:
        print(f"\nbest point (student agreement >= {best['min_agreement']:.0%}): {best['variant']}, "
              f"p50 {best['p50_ms']:.1f} ms = {_fmt(best['vs_fp32'], '.2f')}x unmerged fp32, "
              f"{_fmt(best['vs_int8'], '.2f')}x unmerged int8; agreement {best['student_agreement']:.2%}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--r", default="0,4,8,12,16", metavar="R,R,...", help="merge rates (default 0,4,8,12,16)")
    p.add_argument("--latency-model", default="deit-base", metavar="NAME", help="timed model (default deit-base)")
    p.add_argument("--fidelity-model", default="deit-tiny-cifar10", metavar="NAME",
                   help="trained model for agreement and accuracy (default deit-tiny-cifar10)")
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="CIFAR-10 test ImageFolder DIR/<class>/*.jpg for agreement and accuracy (none: timing only)")
    p.add_argument("--limit", type=int, default=2000, metavar="N", help="of its images, class-balanced (default 2000)")
    p.add_argument("--calls", type=int, default=20, metavar="N", help="timed calls per variant (default 20)")
    p.add_argument("--threads", type=int, default=2, metavar="N", help="torch threads (default 2)")
    p.add_argument("--min-agreement", type=float, default=GATE_AGREEMENT, metavar="F",
                   help=f"for the best point (default {GATE_AGREEMENT}, the fidelity gate's)")
    p.add_argument("--no-int8", action="store_true", help="fp32 only: skip the int8 x86 builds (minutes each)")
    p.add_argument("--json", type=Path, default=Path("tome_curve.json"), metavar="FILE",
                   help="results file (default tome_curve.json)")
    args = p.parse_args(argv)
    rs = sorted({int(r) for r in args.r.split(",")} | {0})
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # the same random DeiT-B on every run
    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    fidelity = fidelity_curve(args.fidelity_model, rs, data=args.data, limit=args.limit, int8=not args.no_int8,
                              batch=50, say=say) if args.data else []
    timings = latency_curve(args.latency_model, rs, calls=args.calls, threads=args.threads, int8=not args.no_int8,
                            say=say)
    best = best_point(timings, fidelity, args.min_agreement)
    cpu = machine_class()
    print_tables(timings, fidelity, best, cpu, args.threads)
    result = {"cpu": cpu, "threads": args.threads, "batch": 1, "torch": torch.__version__, "r": rs,
              "latency": [asdict(t) for t in timings], "fidelity": [asdict(f) for f in fidelity], "best": best,
              "seconds": round(time.perf_counter() - t0, 1),
              "notes": [f"{args.latency_model} has random weights: timed only",
                        f"agreement: top-1 against unmerged fp32 {args.fidelity_model} on CIFAR-10 test images"]}
    args.json.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

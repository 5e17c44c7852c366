"""Latency and throughput of every variant of a model, against the peers: `python -m vitspace.bench`.

    python -m vitspace.bench --model deit-base --random-weights --batch 1,8 --threads 2 --json bench.json

Method, after timm's benchmark.py: for each variant and batch size, untimed warm-up calls, then at
least 20 timed calls on the same input. Reported: p50, p90 and mean latency, images/s (batch / mean),
peak resident memory over the variant's load and runs, file size, top-1 agreement with eager fp32 and the
number of images it rests on (a file's from its build's fidelity gate; the others measured here on the
gate's images, or on --eval-data or examples/ without a build), and the mobile tutorial's figure:
`self_cpu_time_total` of one profiled call (torch runtimes only).

Variants (default: eager PyTorch, the files `python -m vitspace.compress` builds by default, and the peers):
eager fp32 and bf16; the files of `vitspace.compress.build`, each in its own runtime; and the peers a user
would pick instead (rows with `peer: true`, see vitspace.bench.variants): the PyTorch Mobile tutorial's
dynamic int8 on the `qnnpack` engine (`mobile-tutorial-qnnpack`), ONNX Runtime (the `.onnx` files), and
OpenVINO bf16 and int8 (NNCF) when installed. Only the files of the variants named are built (token
merging's when named). A peer whose runtime is missing is skipped with a note. Progress, with an estimate
of the time left, goes to stderr. Compare ratios within one run, not absolute times across runs or machines.

The fastest file that passes the fidelity gate is recorded in the --builds root's fastest.json for this CPU
class, unless the record there names a file this run did not time; Classify's fast path, which reads the
default root, uses it.
"""
import argparse
import sys
from pathlib import Path

from ..compress.build import GATE_MIN_IMAGES
from ..compress.fastest import FASTEST
from ..errors import command
from ..util import cli
from ..util.paths import builds_root
from .report import format_table, write_csv, write_json
from .run import BenchConfig, bench, record_fastest_file
from .timing import MIN_REPS
from .variants import BENCH_VARIANTS, default_variants


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


@command
def main(argv=None) -> int:
    p = cli.parser("bench", __doc__)
    cli.add_model(p, required=True)
    p.add_argument("--variants", nargs="+", choices=list(BENCH_VARIANTS), metavar="NAME",
                   help=f"any of {' '.join(BENCH_VARIANTS)} (default: all but "
                        f"{' '.join(n for n in BENCH_VARIANTS if n not in default_variants())})")
    p.add_argument("--batch", type=_ints, default=(1,), help="batch sizes, e.g. 1,8,32 (default 1)")
    p.add_argument("--threads", type=int, help="intra-op threads of every runtime (default: one per core)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    p.add_argument("--reps", type=int, default=MIN_REPS, help=f"timed calls, at least {MIN_REPS}")
    p.add_argument("--artifacts", type=Path, help="a vitspace.compress.build build folder (default: build one)")
    p.add_argument("--eval-data", type=Path, help="ImageFolder DIR/<class>/*: agreement images (default examples/)")
    p.add_argument("--limit", type=int, help=f"agreement and fidelity images at most (default 100; with --eval-data "
                                              f"{GATE_MIN_IMAGES}, the fidelity gate's minimum)")
    p.add_argument("--builds", type=Path, help="where builds are cached and the fastest passing file is recorded "
                                               "(default $VITSPACE_BUILDS, else ~/.cache/vitspace/builds)")
    p.add_argument("--random-weights", action="store_true", help="architecture only: no weights needed")
    p.add_argument("--no-profile", action="store_true", help="skip the mobile tutorial's one-call profiler figure")
    p.add_argument("--json", type=Path, help="write the report as JSON")
    p.add_argument("--csv", type=Path, help="write the results as CSV")
    args = p.parse_args(argv)
    config = BenchConfig(args.model, tuple(dict.fromkeys(args.variants or ())), args.batch, args.threads,
                         args.warmup, args.reps, args.artifacts, args.eval_data,
                         args.limit or (GATE_MIN_IMAGES if args.eval_data else 100), args.builds,
                         not args.random_weights, not args.no_profile)
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    report = bench(config, progress=say)
    root = args.builds or builds_root()
    fastest = record_fastest_file(report, root)
    if fastest:
        say(f"{fastest.variant} is the fastest passing file on this CPU class; fast path record: {root / FASTEST}")
    if args.json:
        write_json(report, args.json)
    if args.csv:
        write_csv(report, args.csv)
    print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A benchmark's results: one Result per variant and batch size, the Report that holds them with its
verdict against the peers, and their JSON, CSV and text forms. Reports saved under older variant names load."""
import csv
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..compress.build import GATE_AGREEMENT
from ..export import VARIANTS
from ..util import atomic

__all__ = ["Result", "Report", "SCHEMA", "LEGACY_NAMES", "TARGET_RATIO", "write_json", "write_csv", "format_table",
           "agreement_text"]

TARGET_RATIO = 0.8  # vitspace's fastest passing variant against the best peer; above it, the curve is shown
SCHEMA = ("variant", "runtime", "peer", "batch", "p50_ms", "p90_ms", "mean_ms", "images_per_s", "size_bytes",
          "agreement")
LEGACY_NAMES = {"seed-qnnpack-int8": "mobile-tutorial-qnnpack"}  # variant names in reports saved before


@dataclass
class Result:
    """One variant at one batch size: its timings, size and agreement, or why it did not run.

    Attributes:
        variant: the variant's name (BENCH_VARIANTS).
        runtime: the runtime it ran in.
        peer: a recipe a user would pick instead of vitspace's own.
        batch: images per call.
        p50_ms: median time of a timed call; None when it did not run.
        size_bytes: the built file's size; None for a variant without a file.
        agreement: top-1 agreement with eager fp32: the build's fidelity gate's for a built file, else measured on
            the same images; agreement_images says how many.
        note: why it was skipped or failed.
        reps: timed calls made.
        warmup: untimed calls before them.
    """
    variant: str
    runtime: str
    peer: bool
    batch: int
    p50_ms: float | None = None
    p90_ms: float | None = None
    mean_ms: float | None = None
    images_per_s: float | None = None
    size_bytes: int | None = None
    agreement: float | None = None              # top-1 agreement with eager fp32
    status: str = "ok"                          # ok, skipped (runtime missing, shape unsupported) or failed
    note: str = ""
    reps: int = 0
    warmup: int = 0
    peak_mem_mb: float | None = None            # resident memory above the level before the variant loaded
    profiler_ms: float | None = None            # the tutorial's figure: self_cpu_time_total of one profiled call
    agreement_images: int | None = None         # the images the agreement rests on


@dataclass
class Report:
    """A benchmark run: the machine it ran on, its config, every Result, and how long it took in seconds."""
    machine: dict
    config: dict
    results: list[Result]
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """The report as JSON data, with its verdict."""
        return {"machine": self.machine, "config": self.config, "seconds": self.seconds,
                "results": [asdict(r) for r in self.results], "verdict": self.verdict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Report":
        """A report as `to_dict` wrote it, variants renamed since under their current names."""
        results = [Result(**{**r, "variant": LEGACY_NAMES.get(r["variant"], r["variant"])}) for r in d["results"]]
        return cls(d["machine"], d["config"], results, d.get("seconds", 0.0))

    def ok(self) -> list[Result]:
        """The results that ran."""
        return [r for r in self.results if r.status == "ok"]

    def smallest_batch(self) -> int:
        """The smallest batch size measured; 1 when there are no results."""
        return min((r.batch for r in self.results), default=1)

    def passing(self, batch: int = 1) -> list[Result]:
        """vitspace's variants (not the peers) that ran and pass the fidelity gate, at one batch size."""
        return [r for r in self.ok() if not r.peer and r.batch == batch and (r.agreement or 0) >= GATE_AGREEMENT]

    def fastest_passing(self, batch: int = 1) -> Result | None:
        """vitspace's fastest variant (not a peer) that passes the fidelity gate, at one batch size."""
        return min(self.passing(batch), key=lambda r: r.p50_ms, default=None)

    def fastest_file(self) -> Result | None:
        """The fastest passing variant at the smallest batch size when it is a built file, one that Classify's
        fast path can load (not eager PyTorch); None otherwise. What `record_fastest_file` records."""
        fastest = self.fastest_passing(self.smallest_batch())
        return fastest if fastest and fastest.variant in VARIANTS else None

    def best_peer(self, batch: int = 1) -> Result | None:
        """The fastest peer that ran at one batch size, by p50; None when none did."""
        return min((r for r in self.ok() if r.peer and r.batch == batch), key=lambda r: r.p50_ms, default=None)

    def verdict(self, batch: int = 1) -> dict | None:
        """The fastest passing vitspace variant against the best peer, in this run: the ratio of their p50."""
        ours, peer = self.fastest_passing(batch), self.best_peer(batch)
        if not (ours and peer):
            return None
        return {"batch": batch, "fastest_passing": ours.variant, "p50_ms": ours.p50_ms, "best_peer": peer.variant,
                "peer_p50_ms": peer.p50_ms, "ratio": round(ours.p50_ms / peer.p50_ms, 3)}

    def frontier(self, batch: int = 1) -> list[Result]:
        """The speed-against-agreement curve: vitspace's variants, fastest first, each agreeing more than the last."""
        front = []
        for r in sorted((r for r in self.ok() if not r.peer and r.batch == batch), key=lambda r: r.p50_ms):
            if not front or (r.agreement or 0) > (front[-1].agreement or 0):
                front.append(r)
        return front

    def rows(self) -> list[dict]:
        """One row per variant and batch size for a table or plot, with the speed-up over eager fp32."""
        speedups = {b: self.speedups(b) for b in {r.batch for r in self.results}}
        return [{"variant": r.variant, "runtime": r.runtime, "peer": r.peer, "batch": r.batch, "status": r.status,
                 "p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "mean_ms": r.mean_ms, "images_per_s": r.images_per_s,
                 "speedup": speedups[r.batch].get(r.variant), "size_mb": round(r.size_bytes / 1e6, 2)
                 if r.size_bytes else None, "agreement": r.agreement, "agreement_images": r.agreement_images,
                 "peak_mem_mb": r.peak_mem_mb,
                 "profiler_ms": r.profiler_ms, "note": r.note} for r in self.results]

    def speedups(self, batch: int = 1) -> dict[str, float]:
        """p50 of eager fp32 over each variant's p50, at one batch size."""
        rows = {r.variant: r for r in self.ok() if r.batch == batch}
        base = rows.get("eager-fp32")
        return {name: round(base.p50_ms / r.p50_ms, 2) for name, r in rows.items()} if base else {}


def write_json(report: Report, path: str | Path) -> None:
    """The whole report, with its verdict, written atomically."""
    atomic.write_text(path, json.dumps(report.to_dict(), indent=2))


def write_csv(report: Report, path: str | Path) -> None:
    """One row per variant and batch size: the JSON's result fields, schema fields first."""
    names = list(SCHEMA) + [f.name for f in fields(Result) if f.name not in SCHEMA]
    with atomic.staged(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(asdict(r) for r in report.results)


def agreement_text(row: dict) -> str:
    """A row's agreement with the images it rests on: "1.000 (500)"; "-" when it has none."""
    if row["agreement"] is None:
        return "-"
    return f"{row['agreement']:.3f}" + (f" ({row['agreement_images']})" if row.get("agreement_images") else "")


def format_table(report: Report) -> str:
    """The report as a text table, with the verdict against the best peer and the machine it ran on."""
    lines = [f"{'variant':<20} {'peer':<4} {'batch':>5} {'p50 ms':>9} {'p90 ms':>9} {'mean ms':>9} {'img/s':>8} "
             f"{'x fp32':>6} {'MB':>8} {'agree (images)':>14} {'prof ms':>8}"]
    dash = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for r in report.rows():
        head = f"{r['variant']:<20} {'yes' if r['peer'] else '':<4} {r['batch']:>5}"
        if r["status"] != "ok":
            lines.append(f"{head} {r['status']}: {r['note']}")
            continue
        lines.append(f"{head} {r['p50_ms']:>9.2f} {r['p90_ms']:>9.2f} {r['mean_ms']:>9.2f} {r['images_per_s']:>8.1f} "
                     f"{dash(r['speedup'], '.2f'):>6} {dash(r['size_mb'], '.1f'):>8} {agreement_text(r):>14} "
                     f"{dash(r['profiler_ms'], '.1f'):>8}")
    m, v = report.machine, report.verdict(report.smallest_batch())
    if v:
        lines.append(f"fastest passing vitspace variant {v['fastest_passing']} {v['p50_ms']:.2f} ms against the best "
                     f"peer {v['best_peer']} {v['peer_p50_ms']:.2f} ms (batch {v['batch']}): ratio {v['ratio']:.2f}")
        if v["ratio"] > TARGET_RATIO:
            lines.append(f"above {TARGET_RATIO}x: speed against agreement, fastest first: " + ", ".join(
                f"{r.variant} {r.p50_ms:.1f} ms {dash(r.agreement, '.1%')}" for r in report.frontier(v["batch"])))
    lines.append(f"{m.get('class', m['cpu'])}, {m['cores']} cores, {m['threads']} threads, torch {m['torch']}, "
                 f"int8 engine {m['quantized_engine']}")
    return "\n".join(lines)

"""A build's record, `manifest.json`: each file's format, runtime, size, hash, passes, fidelity and the fidelity
gate's verdict, with the gate's thresholds. Manifests written before a field's rename still load."""
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .fidelity import Fidelity

__all__ = ["MANIFEST", "FileEntry", "Manifest", "read_manifest"]

MANIFEST = "manifest.json"


@dataclass
class FileEntry:
    """One variant file of a build: what it is, whether it built, and how faithful it is.

    Attributes:
        file: the variant's file name (export.VARIANTS).
        passes: the export and optimization passes that ran.
        notes: the builder's remarks about the file.
        sha256: of the file itself, not its companion files.
        fidelity: measured in the file's own runtime against eager fp32; None unless it built.
        build_s: seconds the build took.
        latency_ms: median of a few batch-1 calls at the end of the build (`Manifest.timing` says how); files
            that passed the fidelity gate only.
    """
    file: str
    format: str
    runtime: str
    precision: str
    status: str                     # "ok", "failed", "skipped" (its runtime is not installed); rows: "left out"
    passes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    size_bytes: int | None = None   # with companion files (an IR's weights)
    sha256: str | None = None
    fidelity: Fidelity | None = None
    gate: str | None = None         # the fidelity gate's verdict: pass, fail, or too few images (gate_verdict)
    build_s: float | None = None
    reason: str | None = None       # why it failed or was skipped
    latency_ms: float | None = None


@dataclass
class Manifest:
    """A build folder's record: the model and weights, the engine and library versions, the fidelity images,
    and one FileEntry per variant.

    Attributes:
        engine: the quantized engine of int8 TorchScript.
        build_key: `build.build_key` of the config it was built from.
        versions: the installed versions of the packages a build depends on.
        input_shape: the model's input, (1, 3, H, W).
        eager_accuracy: top-1 of the eager fp32 model on the fidelity images; None when they are unlabelled.
        left_out: the files a stopped build did not reach; building the same files again builds only these.
    """
    model: str
    pretrained: bool                # False: architecture only, random weights
    origin: str                     # where the weights came from: embedded, cache, hub, local or random
    engine: str
    build_key: str
    versions: dict[str, str | None]
    input_shape: list[int]
    images: dict                    # source, count, calibration count
    eager_accuracy: float | None
    files: list[FileEntry]
    gate_thresholds: dict = field(default_factory=dict)  # min_agreement, and min_images with an image folder
    cpu: dict = field(default_factory=dict)     # the CPU it was built and measured on, and its precision plan
    timing: dict = field(default_factory=dict)  # how latency_ms was measured: warmup, calls, batch, threads
    left_out: list[str] = field(default_factory=list)  # files asked for but not built: the build was stopped

    def to_dict(self) -> dict:
        """The manifest as JSON data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        """A manifest as `to_dict` wrote it, or as an earlier version did (its fields under their old names)."""
        d = dict(d)
        if "weights" in d:  # manifests written before the rename
            d["pretrained"] = d.pop("weights") == "pretrained"
            d["origin"] = d.pop("weights_source")
        if "gate" in d:  # the thresholds, saved as "gate" before the rename
            d["gate_thresholds"] = d.pop("gate")
        files = [FileEntry(**{**f, "fidelity": Fidelity(**f["fidelity"]) if f.get("fidelity") else None})
                 for f in d["files"]]
        return cls(**{**d, "files": files})

    @property
    def weights_label(self) -> str:
        """The weights in words: "pretrained" or "architecture only"."""
        return "pretrained" if self.pretrained else "architecture only"

    def passing(self) -> list[FileEntry]:
        """The files that built and passed the fidelity gate."""
        return [f for f in self.files if f.status == "ok" and f.gate == "pass"]

    def fastest(self) -> FileEntry | None:
        """The passing file with the lowest latency_ms as the build measured it; None when none was timed."""
        return min((f for f in self.passing() if f.latency_ms is not None), key=lambda f: f.latency_ms, default=None)

    @property
    def failed(self) -> list[str]:
        """The names of the files that failed to build."""
        return [f.file for f in self.files if f.status == "failed"]

    def fast_path_note(self, f: FileEntry) -> str:
        """What marks the fastest passing file in the table: the fast path, and how it was timed."""
        calls = f" (median of {self.timing['calls']} calls)" if self.timing.get("calls") else ""
        return f"fast path: the fastest file that passed, {f.latency_ms:.3g} ms{calls}."

    def rows(self) -> list[dict]:
        """One row per file for a table: size, times smaller than fp32.pt, fidelity, passes, and the fast path
        (in its notes: the fastest passing file the build timed); a stopped build's left-out files last."""
        sizes = {f.file: f.size_bytes for f in self.files if f.size_bytes}
        base = sizes.get("fp32.pt")
        fastest = self.fastest()
        rows = []
        left_out = [FileEntry(name, "", "", "", "left out", reason="the build was stopped before this file")
                    for name in self.left_out]
        for f in self.files + left_out:
            fid = f.fidelity
            rows.append({
                "file": f.file, "format": f.format, "runtime": f.runtime, "status": f.status,
                "size_mb": round(f.size_bytes / 1e6, 2) if f.size_bytes else None,
                "times_smaller": round(base / f.size_bytes, 2) if base and f.size_bytes else None,
                "top1_agreement": fid.top1_agreement if fid else None,
                "max_abs_logit_diff": fid.max_abs_logit_diff if fid else None,
                "accuracy": fid.accuracy if fid else None, "gate": f.gate,
                "passes": ", ".join(f.passes), "notes": " ".join(
                    ([self.fast_path_note(f)] if f is fastest else []) + f.notes) or (f.reason or "")})
        return rows


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a build folder."""
    return Manifest.from_dict(json.loads((Path(folder) / MANIFEST).read_text()))

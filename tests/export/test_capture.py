"""Graph captures on several threads at once, as the app makes them: a visitor's build while Classify's runtime
choice exports the explained forward. torch's capture is not thread-safe (a jit.trace checked while another thread
exports failed about one time in three): vitspace's captures take turns (`vitspace.export.capturing`)."""
import threading

import torch

from vitspace.classify.classifier import get_classifier
from vitspace.compress.build import CompressConfig, compress
from vitspace.explain.choice import probe_pixels, runtime_file
from vitspace.explain.graph import AttentionGraph
from vitspace.explain.runtimes import RUNTIMES


def test_builds_trace_correctly_while_another_thread_exports(tmp_path):
    clf = get_classifier("deit-tiny-cifar10", pretrained=False)
    graph, pixels, onnx = AttentionGraph(clf.module).eval(), probe_pixels(clf), RUNTIMES["onnxruntime"]
    stop, exported = threading.Event(), []

    def export_again_and_again():
        while not stop.is_set():
            folder = tmp_path / f"runtime-{len(exported)}"
            folder.mkdir()
            exported.append(runtime_file(onnx, graph, pixels, folder))
    exporter = threading.Thread(target=export_again_and_again, daemon=True)
    exporter.start()
    try:
        manifests = [compress(clf, CompressConfig("deit-tiny-cifar10", tmp_path / f"build-{i}", ("fp32.pt", "int8.pt"),
                                                  limit=2, pretrained=False)) for i in range(2)]
    finally:
        stop.set()
        exporter.join()
    assert exported, "the other thread never exported: nothing was tested"
    for manifest in manifests:
        assert [(f.file, f.status, f.reason) for f in manifest.files] == [("fp32.pt", "ok", None),
                                                                          ("int8.pt", "ok", None)]
    for path in exported:  # and the exports themselves came out whole
        assert path.stat().st_size > 100_000
    assert torch.jit.load(str(tmp_path / "build-0" / "int8.pt"))(pixels[:1]).shape == (1, len(clf.labels))

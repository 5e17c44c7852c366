"""Classify's exact runtime: the fastest runtime whose logits, maps and heads equal the hooked eager forward's.

The order of the choice is tested with stubbed runtimes and a stubbed timer (fast); the real exports (ONNX Runtime,
OpenVINO, ExecuTorch) on the embedded pair and a Hub-layout model are slow. Real timings are the benchmark's
(benchmarks/runtimes.py), not the tests'.
"""
import itertools
import json
import sys

import pytest
import torch
from support import EXAMPLES, one_torch_thread

import vitspace as vs
from vitspace.classify.classifier import Comparison, Prediction, _load
from vitspace.classify.report import summary
from vitspace.compress import cache
from vitspace.explain import choice
from vitspace.explain.explanation import compare_explained, explain
from vitspace.explain.graph import AttentionGraph, eager_explained
from vitspace.explain.runtimes import RUNTIMES, Runtime

PAIR = ["vit-tiny-cifar10", "deit-tiny-cifar10"]
HUB = ["timm/deit_tiny_distilled_patch16_224.fb_in1k", "someone/deit-flowers-teacher"]


one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


@pytest.fixture(autouse=True)
def own_engines(monkeypatch, tmp_path):
    """Choices made here stay here: other tests' classifiers keep answering in eager PyTorch."""
    monkeypatch.setattr(choice, "_engines", {})
    monkeypatch.setattr(choice, "_threads", {})
    monkeypatch.setenv("VITSPACE_BUILDS", str(tmp_path / "builds"))
    monkeypatch.delenv(choice.ENV, raising=False)


def _pixels(clf, n: int = 3) -> torch.Tensor:
    return choice.probe_pixels(clf, n)


def _like_eager(error: float = 0.0):
    """A runtime's load that answers as eager does, its logits off by `error`."""
    def load(graph, _path, _threads):
        def run(pixels):
            out = eager_explained(graph.module, pixels)
            out.logits = out.logits + error
            return out
        return run
    return load


def _stub_timer(ms_per_call: list[float]):
    """A timer whose consecutive (start, end) readings are `ms_per_call` apart."""
    ticks = iter(itertools.chain.from_iterable((0.0, ms / 1000) for ms in ms_per_call))
    return lambda: next(ticks)


def _failing(graph, _path, _threads):
    raise RuntimeError("this runtime cannot take the model")


def test_the_fastest_runtime_that_answers_as_eager_is_chosen(tmp_path):
    clf = _load("vit-tiny-cifar10", True)
    graph = AttentionGraph(clf.module).eval()
    runtimes = [Runtime("slow", "Slow", "fp32", _like_eager(), order=1),
                Runtime("wrong", "Wrong", "fp32", _like_eager(2e-4), order=2),  # fastest of all, if it were timed
                Runtime("broken", "Broken", "fp32", _failing, order=3),
                Runtime("absent", "Absent", "fp32", _like_eager(), packages=(("no_such_module_xyz", "xyz"),), order=4),
                Runtime("fast", "Fast", "fp32", _like_eager(), order=5)]
    timer = _stub_timer([10] * 3 + [20] * 3 + [2] * 3)  # eager, slow, fast: the runtimes that pass, in order
    chosen, run = choice.choose(graph, _pixels(clf), tmp_path, runtimes=runtimes, timer=timer, calls=3)
    assert chosen.runtime == "fast"
    trials = {t.runtime: t for t in chosen.trials}
    assert {n: t.status for n, t in trials.items()} == {"eager": "ok", "slow": "ok", "wrong": "differs",
                                                         "broken": "failed", "absent": "missing", "fast": "ok"}
    assert [trials[n].p50_ms for n in ("eager", "slow", "fast")] == [10, 20, 2]
    assert trials["wrong"].p50_ms is None and trials["wrong"].diffs["logits"] == pytest.approx(2e-4, rel=1e-3)
    assert "cannot take the model" in trials["broken"].reason and "xyz" in trials["absent"].reason
    torch.testing.assert_close(run(_pixels(clf, 1)).logits, eager_explained(clf.module, _pixels(clf, 1)).logits)


def test_eager_wins_when_it_is_fastest_and_is_the_fallback_of_runtimes_that_fail(tmp_path):
    clf = _load("vit-tiny-cifar10", True)
    graph = AttentionGraph(clf.module).eval()
    runtimes = [Runtime("slower", "Slower", "fp32", _like_eager(), order=1),
                Runtime("wrong", "Wrong", "fp32", _like_eager(1.0), order=2)]
    chosen, _ = choice.choose(graph, _pixels(clf), tmp_path, runtimes=runtimes, timer=_stub_timer([5] * 2 + [6] * 2),
                              calls=2)
    assert chosen.runtime == "eager"
    chosen, _ = choice.choose(graph, _pixels(clf), tmp_path, runtimes=runtimes[1:], timer=_stub_timer([5] * 2),
                              calls=2)
    assert chosen.runtime == "eager"


def test_without_the_runtimes_installed_classify_stays_on_eager(monkeypatch, tmp_path):
    for module in ("onnxruntime", "onnxscript", "openvino", "executorch"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed: nothing is exported
    clf = _load("deit-tiny-cifar10", True)
    engine = choice.load_engine(clf, root=tmp_path)
    assert engine.runtime.name == "eager" and engine.note == "PyTorch (eager)"
    assert {t.runtime: t.status for t in engine.choice.trials} == {
        "eager": "ok", "onnxruntime": "missing", "openvino": "missing", "executorch": "missing",
        "openvino-bf16": "skipped" if not RUNTIMES["openvino-bf16"].usable() else "missing"}
    assert not list(choice.runtime_folder(clf, tmp_path).glob("explained.*"))


def test_the_environment_forces_eager(monkeypatch, tmp_path):
    monkeypatch.setenv(choice.ENV, "eager")
    engine = choice.load_engine(_load("vit-tiny-cifar10", True), root=tmp_path)
    assert engine.runtime.name == "eager" and engine.choice is None
    assert not (tmp_path / "runtime").exists()  # nothing exported, nothing measured


def test_until_a_choice_is_made_the_classifier_answers_in_eager():
    clf = _load("vit-tiny-cifar10", True)
    assert choice.engine(clf).runtime.name == "eager"
    e = explain(clf, EXAMPLES / "cat.jpg", teacher=False)
    assert e.runtime == "PyTorch (eager)"


def _assert_exact(engine: choice.Engine, clf) -> None:
    """The engine's logits, maps (both methods) and heads equal the hooked eager forward's, batched and alone."""
    for n in (2, 1):
        pixels = _pixels(clf, n)
        diffs = choice.differences(eager_explained(clf.module, pixels), engine.run(pixels))
        assert all(diffs[k] <= choice.TOLERANCE[k] for k in diffs), (engine.runtime.name, diffs)


def _check_choice(clf, root, cannot: dict[str, str] | None = None) -> choice.Engine:
    """The choice is the fastest exact runtime, and every runtime installed here is exact, except those of
    `cannot` (runtime -> what its recorded reason says)."""
    cannot = cannot or {}
    engine = choice.load_engine(clf, root=root)
    trials = {t.runtime: t for t in engine.choice.trials}
    assert trials[engine.runtime.name].status == "ok"
    passed = [t for t in trials.values() if t.status == "ok"]
    assert engine.choice.runtime == min(passed, key=lambda t: t.p50_ms).runtime
    for t in trials.values():  # every runtime installed here runs the graph and matches eager
        if t.runtime in cannot:
            assert t.status == "failed" and cannot[t.runtime] in t.reason, (t.runtime, t.status, t.reason)
        elif t.status not in ("missing", "skipped"):
            assert t.status == "ok", (t.runtime, t.status, t.reason, t.diffs)
    _assert_exact(engine, clf)
    for name, trial in trials.items():  # each runtime that passed, loaded again from its file, is exact too
        if trial.status == "ok" and name != engine.runtime.name:
            runtime = RUNTIMES[name]
            folder = choice.runtime_folder(clf, root)
            other = choice.Engine(runtime, runtime.load(AttentionGraph(clf.module).eval(),
                                                        folder / runtime.artifact if runtime.artifact else None, 1))
            _assert_exact(other, clf)
    return engine


@pytest.mark.slow
# the DeiT: its graph is the ViT's with the distillation token and both heads; the ViT answers in its chosen
# runtime in test_classify_answers_in_the_chosen_runtime_and_says_which. The DeiT's teacher, a convnet: its logits
# (its global max pooling is not an operator ExecuTorch's programs take: that runtime says so and is passed over)
@pytest.mark.parametrize("name, cannot", [("deit-tiny-cifar10", {}),
                                          ("resnet9-cifar10", {"executorch": "adaptive_max_pool2d"})])
def test_the_embedded_models_runtime_answers_as_eager(name, cannot, tmp_path):
    clf = _load(name, True)
    _check_choice(clf, tmp_path, cannot)
    # a restart reads the recorded choice: nothing exported or timed again, and the build cache sees a use
    folder = choice.runtime_folder(clf, tmp_path)
    files = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != cache.USED}
    used = cache.last_used(folder)
    again = choice.load_engine(clf, root=tmp_path, timer=_failing)
    assert again.runtime.name == json.loads((folder / choice.CHOICE).read_text())["runtime"]
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != cache.USED} == files
    assert cache.last_used(folder) > used and cache.finished(folder)
    _assert_exact(again, clf)


@pytest.mark.slow
@pytest.mark.parametrize("hub_id", HUB)
def test_a_hub_models_runtime_answers_as_eager(user_models, hub_id, tmp_path):
    _check_choice(_load(hub_id, True), tmp_path)


@pytest.mark.slow
def test_classify_answers_in_the_chosen_runtime_and_says_which(monkeypatch):
    monkeypatch.setenv(choice.ENV, "onnxruntime")  # ONNX Runtime or eager, whichever is faster: one export each
    image = EXAMPLES / "ship.jpg"
    first, _ = compare_explained(image, PAIR)
    assert [p.runtime for p in first.predictions] == ["PyTorch (eager)"] * 2  # while the choice is made
    classifiers = [vs.get_classifier(name) for name in PAIR]
    for clf in classifiers:
        choice.prepare(clf, wait=True)
    c, explanations = compare_explained(image, PAIR)
    off, none = compare_explained(image, PAIR, method="off")
    assert none == [None, None]
    for clf, p, e, p_off in zip(classifiers, c.predictions, explanations, off.predictions):
        engine = choice.engine(clf)
        assert engine.choice is not None and p.runtime == e.runtime == engine.note
        assert p_off.runtime == "PyTorch (eager)"  # no maps asked: the plain forward, not the graph with maps
        reference = eager_explained(clf.module, clf.preprocess([vs.load_image(image)]))
        torch.testing.assert_close(torch.from_numpy(e.logits), reference.logits[0], atol=1e-4, rtol=0)
        for i, grid in enumerate(e.maps.values()):
            torch.testing.assert_close(torch.from_numpy(grid).reshape(-1).float(), reference.maps["rollout"][0, i],
                                       atol=1e-4, rtol=0)
        for h in e.heads:
            assert h.label == clf.labels[int(reference.heads[h.name][0].argmax())]
        assert p.label == p_off.label
    assert all(f"{p.model} ran in {p.runtime}" in summary(c) for p in c.predictions)
    # the DeiT's teacher answers in its own chosen runtime, as eager PyTorch does
    teacher = vs.get_classifier(classifiers[1].spec.teacher)
    choice.prepare(teacher, wait=True)
    assert choice.engine(teacher).choice is not None
    answer = compare_explained(image, PAIR)[1][1].teacher
    with torch.inference_mode():
        probs = teacher.module(teacher.preprocess([vs.load_image(image)]))[0].softmax(-1)
    assert answer.name == teacher.name and answer.label == teacher.labels[int(probs.argmax())]
    assert all(abs(p - float(probs[teacher.labels.index(label)])) <= 1e-4 for label, p in answer.top3)


def test_the_summary_says_which_runtime_answered():
    onnx = "ONNX Runtime (fp32, same answers as PyTorch)"
    c = Comparison([Prediction("vit-tiny-cifar10", [("cat", 0.9)], 3.0, runtime=onnx),
                    Prediction("deit-tiny-cifar10", [("cat", 0.8)], 4.0, runtime="PyTorch (eager)")])
    assert f"vit-tiny-cifar10 ran in {onnx}; deit-tiny-cifar10 ran in PyTorch (eager)." in summary(c).split("\n\n")
    assert "ran in" not in summary(Comparison([Prediction("vit-tiny-cifar10", [("cat", 0.9)], 3.0)]))


def test_maps_off_answers_the_same_labels_without_maps(monkeypatch):
    monkeypatch.setenv(choice.ENV, "eager")
    image = EXAMPLES / "cat.jpg"
    maps, explanations = compare_explained(image, PAIR)
    off, none = compare_explained(image, PAIR, method="off")
    assert none == [None, None] and all(e is not None for e in explanations)
    assert [p.label for p in off.predictions] == [p.label for p in maps.predictions]
    assert [p.runtime for p in off.predictions] == ["PyTorch (eager)"] * 2

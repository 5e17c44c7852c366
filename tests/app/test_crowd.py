"""A crowd at the Classify API: requests that come together share forward passes, and each still gets its own
answer; bad uploads among them get their own messages; a full queue says so. No timing is asserted."""
import asyncio
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from support import ROOT

from vitspace.classify.batching import Batcher
from vitspace.classify.classifier import batched_logits, get_classifier, on_inference_thread
from vitspace.data.images import ImageError, load_image
from vitspace.explain import explanation as vx
from vitspace.models.registry import get_spec

sys.path.insert(0, str(ROOT / "benchmarks"))
import load  # noqa: E402


@pytest.fixture
def busy_inference_thread():
    """Holds vitspace's inference thread until the test lets go, so that work queued meanwhile waits together."""
    gate, held = threading.Event(), threading.Event()

    def hold():
        held.set()
        gate.wait()
    holder = threading.Thread(target=on_inference_thread, args=(hold,))
    holder.start()
    held.wait()
    yield gate
    gate.set()
    holder.join()


def test_the_batcher_runs_what_waits_together_as_one_batch_and_a_failure_stays_with_its_item():
    batches, gate = [], threading.Event()

    def run(key, items):
        batches.append((key, list(items)))
        if "bad" in items:
            raise ValueError("bad item")
        return [f"{key}:{item}" for item in items]
    worker = ThreadPoolExecutor(1)
    worker.submit(gate.wait)  # busy: what comes meanwhile waits
    batcher = Batcher(run, worker.submit, limit=lambda key: 3)
    futures = [batcher.submit("a", i) for i in ("1", "2", "bad", "4")] + [batcher.submit("b", "5")]
    gate.set()
    assert [f.result(timeout=60).output for f in futures if f is not futures[2]] == ["a:1", "a:2", "a:4", "b:5"]
    worker.shutdown()
    with pytest.raises(ValueError, match="bad item"):
        futures[2].result()
    assert [f.result().size for f in futures[:2]] == [1, 1]  # retried alone after the batch of three failed
    assert batches == [("a", ["1", "2", "bad"]), ("a", ["1"]), ("a", ["2"]), ("a", ["bad"]), ("b", ["5"]),
                       ("a", ["4"])]


def test_images_queued_together_share_a_forward_and_get_their_single_answers(busy_inference_thread):
    clf, examples = get_classifier("vit-tiny-cifar10"), [load_image(p) for p in load.EXAMPLES[:5]]
    futures = [batched_logits(clf, im) for im in examples]
    busy_inference_thread.set()
    together = [f.result() for f in futures]
    assert [b.size for b in together] == [5] * 5 and len({b.ms for b in together}) == 1
    for im, b in zip(examples, together):
        torch.testing.assert_close(b.output, clf.logits([im])[0], atol=1e-4, rtol=0)


def test_explanations_of_a_batch_match_each_image_explained_alone(busy_inference_thread):
    clf = get_classifier("deit-tiny-cifar10")
    items = [(load_image(p), method) for p, method in zip(load.EXAMPLES[:4], ("rollout", "last") * 2)]
    futures = [vx._batches.submit(clf, item) for item in items]
    busy_inference_thread.set()
    for (image, method), future in zip(items, futures):
        shared, alone = future.result(), vx.explain(clf, image, method=method, teacher=False)
        assert shared.size == len(items) and shared.output.method == method
        np.testing.assert_allclose(shared.output.logits, alone.logits, atol=1e-4, rtol=0)
        for token in alone.maps:
            np.testing.assert_allclose(shared.output.maps[token], alone.maps[token], atol=1e-4, rtol=0)
        assert [h.top3[0][0] for h in shared.output.heads] == [h.top3[0][0] for h in alone.heads]
        assert shared.output.view.tobytes() == alone.view.tobytes()


def _message(path: Path) -> str:
    with pytest.raises(ImageError) as e:
        load_image(path)
    return str(e.value)


def _scores(answer: load.Answer) -> list[dict[str, float]]:
    return [{c["label"]: c["confidence"] for c in label["confidences"]} for label in answer.labels[:2]]


async def _alone_then_together(url: str, images: list[Path], clients: int):
    async with load.http_client(2 * clients) as http:
        api = load.Api(url, http)
        alone = {path.name: await api.classify(path) for path in dict.fromkeys(images)}
        browsers = load.Api(url, http, upload_each=True)  # each request uploads its image, as a browser does
        return alone, await load.crowd(browsers, images, clients)


def test_a_crowd_with_bad_uploads_gets_the_answers_each_gets_alone(app_url, tmp_path):
    images = load.workload(60, bad_every=5, bad_dir=tmp_path)  # 12 bad uploads among 48 examples
    bad = {p.name: _message(p) for p in images if p.parent == tmp_path}
    assert len(bad) == len(load.BAD)
    alone, crowd = asyncio.run(_alone_then_together(app_url, images, clients=12))
    assert len(crowd) == len(images)
    for answer in crowd:
        if answer.image in bad:
            assert answer.error == alone[answer.image].error == bad[answer.image]
            continue
        assert answer.error is None, answer.error
        assert answer.tops == alone[answer.image].tops
        for shared, single in zip(_scores(answer), _scores(alone[answer.image])):
            assert shared.keys() == single.keys()
            assert all(abs(shared[k] - single[k]) <= 1e-4 for k in shared)
        teacher = get_spec("deit-tiny-cifar10").teacher
        assert answer.labels[3] and answer.labels[4] and f"teacher {teacher}" in answer.labels[5]  # maps, heads
    batches = [int(n) for a in crowd if a.labels for n in re.findall(r"ms \| (\d+) \|", a.labels[2])]
    assert len(batches) == 2 * (len(images) - 12) and max(batches) > 1  # 12 clients at once: forwards were shared


async def _burst(url: str, requests: int):
    async with load.http_client(requests, keepalive=False) as http:  # each its own connection: all at once
        api = load.Api(url, http, method="off")
        image = await api.upload(load.EXAMPLES[0])
        posts = await asyncio.gather(*(api.post(image) for _ in range(requests)))
        results = await asyncio.gather(*(api.result(r.json()["event_id"]) for r in posts if r.status_code == 200))
        after = await api.classify(load.EXAMPLES[1])
        return posts, results, after


def test_a_full_queue_says_busy_and_the_app_keeps_serving(app_url):
    posts, results, after = asyncio.run(_burst(app_url, 250))  # far more than run and wait at once
    busy = [r for r in posts if r.status_code != 200]
    assert busy and all(r.status_code == 503 for r in busy)
    assert all(r.json()["detail"] == "The app is busy: too many requests are waiting. Try again in a moment."
               for r in busy)
    assert results and all(error is None and labels[0]["label"] for labels, error in results)
    assert after.error is None and after.labels[0]["label"]


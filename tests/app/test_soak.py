"""The soak test, bounded (benchmarks/soak.py): 20 clients send Classify with maps and without, bad uploads,
Compress of a cached build and of new ones (one stopped), one-variant benchmarks and card renders at once, to its
own `python app.py`. Every good request is answered (or told the app is busy), every bad upload gets its sentence,
the stopped build says so and is kept with what it built, and the server's figures are taken."""
import asyncio
import json
import sys

import pytest
from support import ROOT
from support.launch import fresh_home, remove, running_app

sys.path.insert(0, str(ROOT / "benchmarks"))
import soak  # noqa: E402


@pytest.mark.slow
def test_a_bounded_soak_of_every_endpoint_at_once():
    home = fresh_home("soak")
    builds = home / ".cache" / "vitspace" / "builds"
    try:
        with running_app(home) as running:
            report = asyncio.run(soak.run(running.url, running.pid, builds, clients=20, requests=120, warmup=20,
                                          new_builds=2))
            log = running.log.read_text()
        manifests = [json.loads(p.read_text()) for p in builds.glob("*/manifest.json")]
    finally:
        remove(home, home.parent / f"{home.name}-app.log")
    assert report.failures == []
    assert set(report.endpoints) == set(soak.MIX) | {"compress-new", "compress-stop"}
    assert report.endpoints["bad-upload"]["answers"] == {"sentence": report.endpoints["bad-upload"]["count"]}
    assert not {"bare", "http-5xx", "transport"} & set(report.answers), report.answers
    assert report.stopped is True
    (left_out,) = [m["left_out"] for m in manifests if m.get("left_out")]  # the stopped build's: its last files
    assert left_out and left_out == soak.new_build(0)[1][-len(left_out):]
    for point in ("start", "middle", "end"):
        sample = report.server[point]
        assert sample["rss_mb"] > 0 and sample["fds"] > 0 and sample["threads"] > 0 and sample["builds_mb"] > 0
    assert "Traceback" not in log

"""Soak test: everything a Space serves, at once, for a while, with an eye on memory, files, threads and disk.

    python benchmarks/soak.py [--clients 20] [--requests 5000] [--warmup 200] [--new-builds 10]
                              [--builds-max-gb GB] [--json FILE]
    python benchmarks/soak.py --url http://127.0.0.1:7860/ --pid PID --builds DIR ...

Without --url it launches `python app.py` itself as load.py does (a fresh HOME outside /tmp, no vitspace or Hub
overrides, offline; --builds-max-gb sets the app's VITSPACE_BUILDS_MAX_GB). `clients` concurrent clients share a
fixed list of requests over Gradio's HTTP API (load.py's client): Classify with attention maps and without, bad
uploads (tests/support/hostile.py), Compress of a cached build and of new ones (the first new one stopped with the
Compress tab's Stop once it builds), one-variant benchmarks, and card renders (each after a cached Compress in its
own session, as a visitor's tab does). Every upload is sent with its request, as a browser does. The warm-up
requests (the same mix, new builds as often) load the models and make the cached build and benchmark runs; then it
reports per endpoint the throughput, p50 and p95 and the answers by kind, and the server's RSS, open file
descriptors, threads, CPU time and build-root size after the warm-up, in the middle and at the end.

Answers: "ok"; "sentence", an error the app explains (expected for bad uploads; a Compress refused for the disk);
"busy", the 503 of a full queue; "bare", an error without a message; "http-5xx", another server error;
"transport", a request that failed on the way. Exit status 1 when a good request got anything but "ok" or "busy".
"""
import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import load  # benchmarks/load.py: the client; it puts tests/ on the path, for support's helpers
from load import EXAMPLES, ROOT
from support.hostile import HOSTILE
from support.launch import fresh_home, remove, running_app

TINY = "deit-tiny-cifar10"
CACHED = [TINY, ["int8-mobile.ptl"], "auto", True]  # built once, at the warm-up; read back after
# files of the new builds: cheap ones, each build a set of three, so that a Stop lands before its end
CHEAP = ("fp32.pt", "int8.pt", "int8-mobile.pt", "int8-mobile.ptl", "model.onnx", "model-int8.onnx")
ENGINES = ("x86", "onednn", "fbgemm")  # part of the build key: the same files with another engine are a new build
BENCHES = [[TINY, ["eager-fp32"], ["1"], 1, True], ["vit-tiny-cifar10", ["eager-fp32"], ["1"], 1, True],
           [TINY, ["int8-mobile.ptl"], ["1"], 1, True]]  # one variant each; the last on the cached build
# per 50 requests; "compress-new" requests are spread over the run apart from these
MIX = {"classify": 20, "classify-off": 14, "bad-upload": 5, "compress-cached": 3, "bench": 4, "card": 4}
GOOD = set(MIX) - {"bad-upload"} | {"compress-new", "compress-stop"}


@dataclass
class Outcome:
    kind: str
    seconds: float
    answer: str                 # ok, sentence, busy, bare, http-5xx, transport
    detail: str | None = None   # the error's words


@dataclass
class Report:
    clients: int
    requests: int
    warmup: int
    seconds: float
    endpoints: dict             # kind -> count, per_s, p50_s, p95_s, answers {answer: n}
    answers: dict               # answer -> n, over every request after the warm-up
    server: dict                # start, middle, end -> rss_mb, fds, threads, cpu_s, builds_mb
    rss_growth_mb: float | None
    stopped: bool | None        # whether the stopped build said so (None: no new build)
    builds_limit_gb: float | None
    failures: list = field(default_factory=list)  # the first few good requests that got an error, with its words
    curve: list = field(default_factory=list)     # the server sample after every tenth of the requests
    loadavg: tuple = field(default_factory=os.getloadavg)


def schedule(requests: int, new_builds: int, seed: int = 0) -> list[str]:
    """The kinds of the requests in the order they are taken: MIX shuffled, `new_builds` new Compress requests
    spread evenly, the first of them stopped."""
    block = [kind for kind, n in MIX.items() for _ in range(n)]
    rng, kinds = random.Random(seed), []
    while len(kinds) < requests:
        rng.shuffle(block)
        kinds += block
    kinds = kinds[:requests]
    for i in range(min(new_builds, requests)):
        kinds[int((i + 0.5) * requests / new_builds)] = "compress-stop" if i == 0 else "compress-new"
    return kinds


def new_build(i: int) -> list:
    """The i-th new build: three of CHEAP with one of ENGINES, architecture only, a key no earlier one has."""
    trios = [(a, b, c) for a in range(len(CHEAP)) for b in range(a + 1, len(CHEAP)) for c in range(b + 1, len(CHEAP))]
    trio, engine = trios[i % len(trios)], ENGINES[(i // len(trios)) % len(ENGINES)]
    return [TINY, [CHEAP[j] for j in trio], engine, True]


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError(f"no thread count for {pid}")


def _tree_bytes(folder: Path) -> int:
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except FileNotFoundError:  # removed meanwhile (a build evicted)
                pass
    return total


def server_sample(pid: int | None, builds: Path | None) -> dict:
    """The server's RSS, open file descriptors, threads and CPU time, and the build root's size."""
    sample = {}
    if pid:
        sample.update(rss_mb=round(load.rss_mb(pid), 1), fds=len(os.listdir(f"/proc/{pid}/fd")),
                      threads=_threads(pid), cpu_s=round(load.cpu_seconds(pid), 1))
    if builds:
        sample["builds_mb"] = round(_tree_bytes(builds) / 1e6, 1)
    return sample


class SoakApi(load.Api):
    """load.Api, and any endpoint by name; the Compress tab's Stop."""

    async def call(self, api: str, data: list, session: str | None = None) -> tuple[str, list | None, str | None]:
        """(answer, outputs, error words) of one call of /call/API."""
        r = await self.http.post(f"{self.base}/call/{api}", json={"data": data, "session_hash": session})
        if r.status_code == 503:
            return "busy", None, None
        if r.status_code >= 500:
            return "http-5xx", None, r.text[:200]
        r.raise_for_status()
        kind, data = await load.read_result(self.http, f"{self.base}/call/{api}/{r.json()['event_id']}")
        if kind == "complete":
            return "ok", [load._value(v) for v in data], None
        if kind == "error":
            words = data.get("error") if isinstance(data, dict) else data
            return ("sentence" if words else "bare"), None, words
        return "transport", None, f"the result stream of /{api} ended without a result"

    async def fn_index(self, api: str) -> int:
        config = (await self.http.get(self.base.removesuffix("/gradio_api") + "/config")).json()
        return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api)

    async def build_and_stop(self, data: list) -> tuple[str, list | None, str | None]:
        """A Compress request that presses Stop while its first file builds (the queue's own stream of the session
        carries the build's progress); (answer, outputs, error words) as for `call`."""
        session = secrets.token_hex(8)
        body = {"data": data, "fn_index": await self.fn_index("compress"), "session_hash": session,
                "event_data": None, "trigger_id": None}
        r = await self.http.post(f"{self.base}/queue/join", json=body)
        if r.status_code == 503:
            return "busy", None, None
        r.raise_for_status()
        stopped = False
        async with self.http.stream("GET", f"{self.base}/queue/data", params={"session_hash": session}) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                progress = message.get("progress_data") or []
                if not stopped and any("[1/" in (p.get("desc") or "") for p in progress):  # its first file
                    stop = {"data": [], "session_hash": session}
                    (await self.http.post(f"{self.base}/run/stop_build", json=stop)).raise_for_status()
                    stopped = True
                if message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    if message.get("success"):
                        return "ok", [load._value(v) for v in output.get("data", [])], None
                    return ("sentence" if output.get("error") else "bare"), None, output.get("error")
        return "transport", None, "the queue's stream ended without a result"


class Soak:
    """The requests of one run and what each got."""

    def __init__(self, api: SoakApi, classify_off: SoakApi, bad: list[Path]):
        self.api, self.off, self.bad = api, classify_off, bad
        self.counts, self.builds, self.stopped = Counter(), 0, None

    async def one(self, kind: str) -> Outcome:
        t0 = time.perf_counter()
        try:
            answer, detail = await self._request(kind)
        except httpx.HTTPError as e:
            answer, detail = "transport", f"{type(e).__name__}: {e}"
        return Outcome(kind, time.perf_counter() - t0, answer, detail)

    async def _request(self, kind: str) -> tuple[str, str | None]:
        n = self.counts[kind]
        self.counts[kind] += 1
        if kind in ("classify", "classify-off", "bad-upload"):
            api = self.off if kind == "classify-off" else self.api
            a = await api.classify(self.bad[n % len(self.bad)] if kind == "bad-upload" else EXAMPLES[n % len(EXAMPLES)])
            return ("busy" if a.error == "busy" else "sentence" if a.error else "ok" if a.labels else "bare"), a.error
        if kind == "bench":
            answer, _, words = await self.api.call("bench", BENCHES[n % len(BENCHES)])
            return answer, words
        if kind == "compress-cached":
            answer, _, words = await self.api.call("compress", CACHED)
            return answer, words
        if kind == "card":
            session = secrets.token_hex(8)
            answer, _, words = await self.api.call("compress", CACHED, session)
            if answer == "ok":
                answer, _, words = await self.api.call("card", [], session)
            return answer, words
        self.builds += 1
        if kind == "compress-stop":
            answer, outputs, words = await self.api.build_and_stop(new_build(self.builds - 1))
            self.stopped = bool(outputs) and "Stopped" in str(outputs[2])
            return answer, words
        answer, _, words = await self.api.call("compress", new_build(self.builds - 1))
        return answer, words

    async def crowd(self, kinds: list[str], clients: int, on_done=None) -> list[Outcome]:
        todo, outcomes = iter(kinds), []

        async def client():
            for kind in todo:
                outcomes.append(await self.one(kind))
                if on_done:
                    on_done(len(outcomes))
        await asyncio.gather(*(client() for _ in range(clients)))
        return outcomes


def _p(values: list[float], q: int) -> float | None:
    if not values:
        return None
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0], 3)


def endpoints(outcomes: list[Outcome], seconds: float) -> dict:
    """Per kind of request: how many, per second over the run, p50 and p95 of those answered, answers by kind."""
    table = {}
    for kind in dict.fromkeys(o.kind for o in outcomes):
        mine = [o for o in outcomes if o.kind == kind]
        answered = [o.seconds for o in mine if o.answer in ("ok", "sentence")]
        table[kind] = {"count": len(mine), "per_s": round(len(mine) / seconds, 2), "p50_s": _p(answered, 50),
                       "p95_s": _p(answered, 95), "answers": dict(Counter(o.answer for o in mine))}
    return table


async def run(url: str, pid: int | None, builds: Path | None, clients: int = 20, requests: int = 5000,
              warmup: int = 200, new_builds: int = 10, builds_limit_gb: float | None = None) -> Report:
    """The soak against a running app; `builds` its build root, to measure (None: not measured)."""
    with tempfile.TemporaryDirectory() as bad_dir:
        bad = [HOSTILE[name](Path(bad_dir)) for name in load.BAD]
        async with load.http_client(2 * clients + 4) as http:
            soak = Soak(SoakApi(url, http, upload_each=True), SoakApi(url, http, method="off", upload_each=True), bad)
            # the warm-up: one of each kind first (the cached build and benchmark runs made), then the mix, new
            # builds as often as in the run: what serving every kind of request once costs is not a growth
            first, warm = list(MIX), max(warmup - len(MIX), 0)
            await soak.crowd(first + schedule(warm, round(new_builds * warm / max(requests, 1)), seed=1), clients)
            samples = {"start": server_sample(pid, builds)}

            def middle(done: int) -> None:  # and every tenth of the run, for the curve
                if done == requests // 2:
                    samples["middle"] = server_sample(pid, builds)
                if done % max(requests // 10, 1) == 0:
                    curve.append({"requests": done, **server_sample(pid, builds)})
            curve = []
            t0 = time.perf_counter()
            outcomes = await soak.crowd(schedule(requests, new_builds), clients, middle)
            seconds = time.perf_counter() - t0
            samples["end"] = server_sample(pid, builds)
    failures = [asdict(o) for o in outcomes if o.kind in GOOD and o.answer not in ("ok", "busy")]
    failures += [asdict(o) for o in outcomes if o.kind == "bad-upload" and o.answer != "sentence"]
    rss = [samples[k].get("rss_mb") for k in ("start", "end")]
    return Report(clients, requests, warmup, round(seconds, 1), endpoints(outcomes, seconds),
                  dict(Counter(o.answer for o in outcomes)), samples,
                  round(rss[1] - rss[0], 1) if None not in rss else None, soak.stopped, builds_limit_gb,
                  failures[:10], curve)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=20, metavar="N", help="concurrent clients (default: 20)")
    p.add_argument("--requests", type=int, default=5000, metavar="M", help="measured requests in all (default: 5000)")
    p.add_argument("--warmup", type=int, default=200, metavar="W",
                   help="requests of the same mix before the first sample (default: 200)")
    p.add_argument("--new-builds", type=int, default=10, metavar="B",
                   help="new Compress builds among the requests, the first one stopped (default: 10)")
    p.add_argument("--builds-max-gb", type=float, metavar="GB",
                   help="the launched app's VITSPACE_BUILDS_MAX_GB (default: the app's own default)")
    p.add_argument("--url", help="a running app instead of launching one (give --pid and --builds to measure them)")
    p.add_argument("--pid", type=int, help="the running app's process id")
    p.add_argument("--builds", type=Path, help="the running app's build root")
    p.add_argument("--json", metavar="FILE", help="append the report to this JSON-lines file")
    args = p.parse_args()
    common = dict(clients=args.clients, requests=args.requests, warmup=args.warmup, new_builds=args.new_builds,
                  builds_limit_gb=args.builds_max_gb)
    if args.url:
        report = asyncio.run(run(args.url, args.pid, args.builds, **common))
    else:
        home = fresh_home("soak")
        env = {"VITSPACE_BUILDS_MAX_GB": str(args.builds_max_gb)} if args.builds_max_gb else {}
        try:
            with running_app(home, cwd=ROOT, **env) as running:
                report = asyncio.run(run(running.url, running.pid, home / ".cache" / "vitspace" / "builds",
                                         **common))
        finally:
            remove(home, home.parent / f"{home.name}-app.log")
    print(json.dumps(asdict(report), indent=2))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(asdict(report)) + "\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())

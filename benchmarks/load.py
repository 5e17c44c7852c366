"""Load test of the Classify API: many clients at once, as a crowd on a Space would send them.

    python benchmarks/load.py [--clients 20] [--requests 200] [--method rollout|last|off] [--sessions]
                              [--bad-every 0] [--pair A B] [--upload-each] [--settle 900] [--json FILE]
    python benchmarks/load.py --url http://127.0.0.1:7860/ --pid PID ...

Without --url it launches `python app.py` itself, as tests/launch.py does (a fresh HOME outside /tmp, no
vitspace or Hub overrides, offline). The client is light: asyncio and httpx over Gradio's plain HTTP
API, each distinct image uploaded once (or, with --upload-each, uploaded with every request, as a browser
does; its time counts), then per request POST /gradio_api/call/classify and read the event's result
stream. It first waits (--settle seconds at most) until each model answers in the runtime Classify chose
for it (made in the background after start-up; until then the models answer in eager PyTorch), then,
after a warm-up (one request per client), it reports requests/s, p50 and p95 latency, the server's CPU
time per request (utime + stime of its process from /proc), its RSS before and after, and what each model
ran in. --bad-every N makes every Nth request a bad upload (tests/support/hostile.py's files);
their error answers count as answers. A 503 (Gradio's queue is full) counts as "busy". The client shares
the machine with the server: compare runs made one after the other, and note the load average printed.
"""
import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.hostile import HOSTILE  # noqa: E402
from support.launch import fresh_home, remove, running_app  # noqa: E402

EXAMPLES = sorted((ROOT / "examples").glob("*.jpg"))
PAIR = ("vit-tiny-cifar10", "deit-tiny-cifar10")
BAD = ("truncated_jpeg", "text_as_jpg", "decompression_bomb_png")
TICK = os.sysconf("SC_CLK_TCK")
EAGER = "PyTorch (eager)"   # what the summary names while a model's runtime choice is being made


@dataclass
class Answer:
    image: str                  # the upload's original name
    seconds: float              # from the POST to the result
    labels: list | None = None  # the outputs' values (label_a, label_b, summary, map_a, map_b, heads)
    error: str | None = None    # the app's message, or "busy" for a full queue

    @property
    def tops(self) -> tuple[str, str] | None:
        return (self.labels[0]["label"], self.labels[1]["label"]) if self.labels else None


@dataclass
class Report:
    clients: int
    requests: int
    seconds: float
    requests_per_s: float
    p50_s: float
    p95_s: float
    answered: int
    errors: int
    busy: int
    server_cpu_ms_per_request: float | None
    rss_mb_before: float | None
    rss_mb_after: float | None
    pair: tuple[str, str] = PAIR
    method: str = "rollout"
    sessions: bool = False
    upload_each: bool = False
    runtimes: list[str] = field(default_factory=list)  # "MODEL ran in RUNTIME", from the last answer
    loadavg: tuple = field(default_factory=os.getloadavg)


class Api:
    """Gradio's HTTP API for /classify: upload once, call, read the SSE stream."""

    def __init__(self, url: str, http: httpx.AsyncClient, pair=PAIR, method: str = "rollout",
                 upload_each: bool = False):
        self.base, self.http, self.pair, self.method = url.rstrip("/") + "/gradio_api", http, pair, method
        self.upload_each = upload_each
        self.uploaded: dict[Path, dict] = {}

    async def upload(self, path: Path) -> dict:
        if path not in self.uploaded or self.upload_each:
            r = await self.http.post(self.base + "/upload", files={"files": (path.name, path.read_bytes())})
            r.raise_for_status()
            self.uploaded[path] = {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}, "orig_name": path.name}
        return self.uploaded[path]

    async def classify(self, path: Path, session: str | None = None) -> Answer:
        """One request and its answer, timed from the upload with upload_each, else from the call."""
        t0 = time.perf_counter()
        image = await self.upload(path)
        if not self.upload_each:
            t0 = time.perf_counter()
        r = await self.post(image, session)
        if r.status_code == 503:
            return Answer(path.name, time.perf_counter() - t0, error="busy")
        r.raise_for_status()
        labels, error = await self.result(r.json()["event_id"])
        return Answer(path.name, time.perf_counter() - t0, labels, error)

    async def post(self, image: dict, session: str | None = None) -> httpx.Response:
        # image, model A, model B, architecture only, fast path, attention method
        data = [image, *self.pair, False, False, self.method]
        return await self.http.post(self.base + "/call/classify", json={"data": data, "session_hash": session})

    async def result(self, event_id: str) -> tuple[list | None, str | None]:
        """The event's outputs, or else its error message, read from its result stream."""
        kind, data = await read_result(self.http, f"{self.base}/call/classify/{event_id}")
        if kind == "complete":
            return [_value(v) for v in data], None
        if kind == "error":
            return None, data.get("error", str(data)) if isinstance(data, dict) else str(data)
        raise RuntimeError(f"the result stream of {event_id} ended without a result")


async def read_result(http: httpx.AsyncClient, url: str) -> tuple[str | None, object]:
    """A Gradio call's result, read from its event stream at `url`: ("complete", the outputs) or ("error", its
    data); (None, None) when the stream ends without one."""
    kind = None
    async with http.stream("GET", url) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                return kind, json.loads(line[5:])
    return None, None


def runtimes(answer: Answer) -> list[str]:
    """What the answer's summary says each model ran in: ["vit-tiny-cifar10 ran in ONNX Runtime (...)", ...]."""
    return re.findall(r"([\w./@-]+ ran in [^;]+?)(?:;|\.$)", answer.labels[2], re.M) if answer.labels else []


async def settle(api: Api, seconds: float, poll: float = 5.0) -> list[str]:
    """Ask until every model of the pair answers in a runtime other than eager PyTorch (its choice is made), at
    most `seconds`; returns what the last answer ran in."""
    deadline = time.monotonic() + seconds
    while True:
        ran = runtimes(await api.classify(EXAMPLES[0]))
        if (ran and not any(EAGER in r for r in ran)) or time.monotonic() > deadline:
            return ran
        await asyncio.sleep(poll)


def _value(v):
    return v.get("value", v) if isinstance(v, dict) and "__type__" in v else v


def http_client(connections: int, keepalive: bool = True) -> httpx.AsyncClient:
    """Keeps idle connections 1 s: uvicorn closes them after 5 s, and a request sent on one just then fails
    (a busy client may read a response seconds after it was sent)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections if keepalive else 0,
                          keepalive_expiry=1)
    return httpx.AsyncClient(timeout=300, limits=limits)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def workload(requests: int, bad_every: int, bad_dir: Path | None) -> list[Path]:
    """The images in the order they are sent: the examples in turn, every bad_every-th a bad upload."""
    bad = [HOSTILE[name](bad_dir) for name in BAD] if bad_every else []
    return [bad[(i // bad_every) % len(bad)] if bad_every and i % bad_every == bad_every - 1
            else EXAMPLES[i % len(EXAMPLES)] for i in range(requests)]


async def crowd(api: Api, images: list[Path], clients: int, sessions: bool = False) -> list[Answer]:
    """`clients` concurrent clients sending `images` between them, each waiting for its answer; with
    `sessions`, each client keeps one session as a browser does, else each call is a session of its own."""
    todo, answers = iter(images), []

    async def client():
        session = secrets.token_hex(8) if sessions else None
        for path in todo:
            answers.append(await api.classify(path, session))
    await asyncio.gather(*(client() for _ in range(clients)))
    return answers


async def run(url: str, pid: int | None, clients: int, requests: int, bad_every: int = 0, pair=PAIR,
              method: str = "rollout", sessions: bool = False, upload_each: bool = False, settle_s: float = 900
              ) -> tuple[Report, list[Answer]]:
    with tempfile.TemporaryDirectory() as bad_dir:
        images = workload(requests, bad_every, Path(bad_dir))
        async with http_client(2 * clients + 4) as http:
            api = Api(url, http, pair, method, upload_each)
            for path in set(images):
                await api.upload(path)
            ran = await settle(api, settle_s)
            await crowd(api, EXAMPLES[:clients], clients, sessions)  # warm-up: models loaded, threads started
            cpu0, rss0 = (cpu_seconds(pid), rss_mb(pid)) if pid else (None, None)
            t0 = time.perf_counter()
            answers = await crowd(api, images, clients, sessions)
            seconds = time.perf_counter() - t0
            cpu1, rss1 = (cpu_seconds(pid), rss_mb(pid)) if pid else (None, None)
    times = sorted(a.seconds for a in answers if a.error != "busy")
    q = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else times * 19
    report = Report(clients, requests, round(seconds, 2), round(requests / seconds, 2),
                    round(statistics.median(times), 3), round(q[18], 3), sum(a.labels is not None for a in answers),
                    sum(a.error not in (None, "busy") for a in answers), sum(a.error == "busy" for a in answers),
                    round((cpu1 - cpu0) * 1000 / requests, 1) if pid else None,
                    round(rss0, 1) if pid else None, round(rss1, 1) if pid else None, pair, method, sessions,
                    upload_each, ran)
    return report, answers


def measure(url: str, pid: int | None, args) -> Report:
    report, answers = asyncio.run(run(url, pid, args.clients, args.requests, args.bad_every, tuple(args.pair),
                                      args.method, args.sessions, args.upload_each, args.settle))
    examples = {p.name for p in EXAMPLES}
    failed = [a for a in answers if a.error and a.error != "busy" and a.image in examples]
    if failed:  # a good image that got an error: the figures would measure failures, not answers
        raise SystemExit(f"{len(failed)} of {len(answers)} requests failed, the first with: {failed[0].error}")
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=20, metavar="N", help="concurrent clients (default: 20)")
    p.add_argument("--requests", type=int, default=200, metavar="M", help="timed requests in all (default: 200)")
    p.add_argument("--bad-every", type=int, default=0, metavar="K",
                   help="every Kth request is a bad upload (default: 0, none)")
    p.add_argument("--pair", nargs=2, default=PAIR, metavar="MODEL", help=f"(default: {' '.join(PAIR)})")
    p.add_argument("--method", choices=("rollout", "last", "off"), default="rollout",
                   help="attention maps, or off for none (default: rollout)")
    p.add_argument("--sessions", action="store_true",
                   help="each client keeps one session, as a browser or gradio_client does (default: plain API "
                        "calls, each a session of its own)")
    p.add_argument("--upload-each", action="store_true",
                   help="upload the image with every request, as a browser does, and time it (default: each image "
                        "uploaded once, before the timed requests)")
    p.add_argument("--settle", type=float, default=900, metavar="S",
                   help="wait at most S seconds for each model to answer in its chosen runtime (default: 900)")
    p.add_argument("--url", help="a running app instead of launching one (give --pid for CPU and RSS)")
    p.add_argument("--pid", type=int, help="the running app's process id")
    p.add_argument("--app", type=Path, default=ROOT / "app.py", help="the app to launch (default: this repository's)")
    p.add_argument("--hub-cache", type=Path, metavar="DIR",
                   help="the launched app's HF_HUB_CACHE, for a Hub pair (e.g. ~/.cache/huggingface/hub)")
    p.add_argument("--json", metavar="FILE", help="append the report to this JSON-lines file")
    args = p.parse_args()
    if args.url:
        report = measure(args.url, args.pid, args)
    else:
        home = fresh_home("load")
        env = {"HF_HUB_CACHE": str(args.hub_cache.resolve())} if args.hub_cache else {}
        try:
            with running_app(home, cwd=args.app.parent, app=args.app.resolve(), **env) as running:
                report = measure(running.url, running.pid, args)
        finally:
            remove(home, home.parent / f"{home.name}-app.log")
    print(json.dumps(asdict(report)))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(asdict(report)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

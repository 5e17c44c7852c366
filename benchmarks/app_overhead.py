"""App benchmarks: cold start of `python app.py` to its first answer, and the app's overhead per request.

    python benchmarks/app_overhead.py [--requests 30] [--json FILE]

Cold start: from launching the process to the first /classify answer received over HTTP.
Overhead: median HTTP round trip of /classify minus the median of the same work done in-process
(decode the image, preprocess and forward both models). The round trip is timed over Gradio's REST
API with the image uploaded once (the app's own cost), and also with gradio_client, which uploads
the file on every call and adds its own job machinery.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cat.jpg"
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start(pair: tuple[str, str]) -> tuple[float, subprocess.Popen, str]:
    """Seconds from launch to the first answer; the running app and its URL."""
    from gradio_client import Client, handle_file
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    while True:
        try:
            client = Client(url, verbose=False)
            client.predict(handle_file(str(EXAMPLE)), *pair, False, api_name="/classify")
            return time.perf_counter() - t0, proc, url
        except Exception:
            if proc.poll() is not None or time.perf_counter() - t0 > 300:
                raise RuntimeError("app did not answer")
            time.sleep(0.05)


def _median_ms(fn, n: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _rest_call(url: str):
    """A /classify call over Gradio's REST API (POST the event, read its result stream)."""
    import httpx
    http = httpx.Client(timeout=60)
    base = url + "gradio_api"
    with open(EXAMPLE, "rb") as f:
        path = http.post(base + "/upload", files={"files": f}).json()[0]
    image = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": EXAMPLE.name}

    def call(pair):
        # every input of the event: image, model A, model B, architecture only, fast path, attention method
        data = [image, *pair, False, False, "rollout"]
        event = http.post(base + "/call/classify", json={"data": data}).json()["event_id"]
        with http.stream("GET", f"{base}/call/classify/{event}") as stream:
            failed = False
            for line in stream.iter_lines():
                if failed and line.startswith("data:"):
                    raise RuntimeError(f"the app answered with an error: {line[5:].strip()}")
                failed = failed or line.startswith("event: error")
                if line.startswith("event: complete"):
                    return
    return call


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=30)
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args()

    from gradio_client import Client, handle_file

    import vitspace as vs
    pair = vs.default_pair()
    seconds, proc, url = cold_start(pair)
    try:
        client = Client(url, verbose=False)
        client_ms = _median_ms(lambda: client.predict(handle_file(str(EXAMPLE)), *pair, False,
                                                      api_name="/classify"), args.requests)
        rest = _rest_call(url)
        api_ms = _median_ms(lambda: rest(pair), args.requests)
    finally:
        proc.terminate()
        proc.wait(10)
    bare_ms = _median_ms(lambda: vs.compare(str(EXAMPLE), list(pair)), args.requests)
    result = {"pair": pair, "cold_start_s": round(seconds, 2), "rest_round_trip_ms": round(api_ms, 2),
              "gradio_client_round_trip_ms": round(client_ms, 2), "bare_compare_ms": round(bare_ms, 2),
              "overhead_ms": round(api_ms - bare_ms, 2),
              "requests": args.requests, "cpus": os.cpu_count()}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

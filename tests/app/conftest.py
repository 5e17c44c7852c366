"""What the app's tests share beyond tests/conftest.py: the app launched with users' own models, in its Hub cache
or on a fake Hub it downloads them from."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.hubcache import build_user_cache
from support.launch import fresh_home, remove, running_app


@pytest.fixture(scope="module")
def hub_app():
    """The url of `python app.py` run offline, its Hugging Face cache holding users' models (support.hubcache:
    USER_MODELS, and the REFUSED ones): a module's tests of typed models share it; it stops after them."""
    root = fresh_home("user-models")
    cache = build_user_cache(root / "hf-cache")
    home = root / "home"
    home.mkdir()
    try:
        with running_app(home, HF_HUB_CACHE=str(cache)) as (url, _, _):
            yield url
    finally:
        remove(root)


class _FakeHub(BaseHTTPRequestHandler):
    """The Hub's file route, /{owner}/{name}/resolve/{revision}/{file}, over the snapshots of a Hugging Face cache:
    huggingface_hub's HEAD (commit, etag, size) and GET; weights sent slowly, over about 2 s, as a download is."""
    cache: Path

    def _file(self) -> tuple[Path | None, str]:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None, "RepoNotFound"
        repo = self.cache / f"models--{parts[0]}--{parts[1]}"
        if not repo.is_dir():
            return None, "RepoNotFound"
        file = next((repo / "snapshots").iterdir()) / "/".join(parts[4:])
        return (file, "") if file.is_file() else (None, "EntryNotFound")

    def _headers(self) -> bytes | None:
        file, error = self._file()
        self.send_response(404 if file is None else 200)
        if file is None:
            self.send_header("X-Error-Code", error)
            self.send_header("Content-Length", "0")
        else:
            self.send_header("X-Repo-Commit", file.parent.name)
            self.send_header("ETag", f'"{file.resolve().name}"')  # the blob's name: its hash
            self.send_header("Content-Length", str(file.stat().st_size))
        self.end_headers()
        return None if file is None else file.read_bytes()

    def do_HEAD(self):  # noqa: N802 (http.server's name)
        self._headers()

    def do_GET(self):  # noqa: N802
        data = self._headers()
        chunk = max(len(data or b"") // 20, 1)
        for i in range(0, len(data or b""), chunk):
            self.wfile.write(data[i:i + chunk])
            self.wfile.flush()
            if len(data) > 100_000:
                threading.Event().wait(0.1)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def online_app():
    """The url of `python app.py` with an empty Hugging Face cache, online to a fake Hub on this machine that holds
    support.hubcache's users' models: the app downloads each model it is given."""
    root = fresh_home("online")
    handler = type("Hub", (_FakeHub,), {"cache": build_user_cache(root / "served", ids=("someone/vit-pets-384",))})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = root / "home"
    home.mkdir()
    try:
        with running_app(home, HF_HUB_OFFLINE="0", HF_ENDPOINT=f"http://127.0.0.1:{server.server_port}",
                         HF_HUB_CACHE=str(root / "empty-cache"), HF_HUB_DISABLE_XET="1") as (url, _, _):
            yield url
    finally:
        server.shutdown()
        remove(root)

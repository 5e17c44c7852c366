"""A fake Hugging Face Hub on 127.0.0.1 that serves files the way `hf_hub_download` fetches them (HEAD for the
metadata, GET for the bytes), and answers with the Hub's error codes where a test asks for them.

Point huggingface_hub at it with `constants.ENDPOINT` (as HF_ENDPOINT does) and `constants.HF_HUB_OFFLINE = False`.
"""
import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "a" * 40
_RESOLVE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)")


class FileHub:
    """Repositories as {repo_id: {filename: bytes}}; `errors` as {repo_id: (status, X-Error-Code)}."""

    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.errors: dict[str, tuple[int, str]] = {}
        self.requests: list[tuple[str, str]] = []      # (method, path), in order
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub._answer(self, body=False)

            def do_GET(self):
                hub._answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_folder(self, repo_id: str, folder: Path) -> None:
        """Serve a saved model's files as the repository `repo_id`."""
        self.repos[repo_id] = {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()}

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        self.requests.append((h.command, h.path))
        m = _RESOLVE.fullmatch(h.path.split("?")[0])
        repo = m and m["repo"]
        if repo in self.errors:
            status, code = self.errors[repo]
            return self._send(h, status, b'{"error": "%s"}' % code.encode(), {"X-Error-Code": code}, body)
        if not m or repo not in self.repos:
            return self._send(h, 401, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"}, body)
        if m["rev"] not in ("main", COMMIT):
            return self._send(h, 404, b'{"error": "Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"}, body)
        data = self.repos[repo].get(m["file"])
        if data is None:
            return self._send(h, 404, b'{"error": "Entry not found"}', {"X-Error-Code": "EntryNotFound"}, body)
        self._send(h, 200, data, {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}, body)

    @staticmethod
    def _send(h, status: int, data: bytes, headers: dict, body: bool) -> None:
        h.send_response(status)
        for k, v in {"Content-Length": str(len(data)), **headers}.items():
            h.send_header(k, v)
        h.end_headers()
        if body:
            h.wfile.write(data)

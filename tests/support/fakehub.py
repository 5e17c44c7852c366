"""A fake Hugging Face Hub on 127.0.0.1: a local HTTP server speaking the endpoints HfApi calls.

The server (FakeHub) keeps repositories in memory and implements, as huggingface_hub 2.4 calls them:
- POST /api/repos/create; GET /api/models/{repo} (repo_info); POST /api/models/{repo}/branch/{branch}
- POST /api/models/{repo}/paths-info/{rev} (*.ptl described as LFS files, as the Hub's .gitattributes does)
- POST /api/validate-yaml
- POST /api/models/{repo}/preupload/{rev}: every file "regular", so its bytes go inline (base64) in the commit
- POST /api/models/{repo}/commit/{rev}: ndjson; ?create_pr=1 opens refs/pr/N
- GET /{repo}/resolve/{rev}/{path}
Every request must carry the token it was started with (401 otherwise), and answers can be made to fail on
demand (429, 5xx, 403).
"""
import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from vitspace.card import hub_rules

TOKEN = "hf_vitspaceTestToken0123456789abcdef"


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


@dataclass
class Repo:
    refs: dict[str, dict[str, bytes]] = field(
        default_factory=lambda: {"main": {".gitattributes": b"*.ptl filter=lfs\n"}})
    prs: int = 0


@dataclass
class Commit:
    repo_id: str
    ref: str
    files: dict[str, bytes]
    summary: str


class FakeHub:
    def __init__(self, token: str = TOKEN):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.commits: list[Commit] = []
        self.requests: list[tuple[str, str, bytes]] = []   # method, path, body
        self.failures: list[tuple[str, int]] = []          # (path pattern, status), each used once
        self.forbidden = False                             # every write answers 403
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                hub.handle(self, "GET")

            def do_POST(self):
                hub.handle(self, "POST")

            def do_HEAD(self):
                hub.handle(self, "HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def fail(self, pattern: str, status: int, times: int = 1) -> None:
        self.failures += [(pattern, status)] * times

    def edit(self, repo_id: str, path: str, data: bytes) -> None:
        """A commit made on the Hub's website."""
        with self.lock:
            self.repos[repo_id].refs["main"][path] = data

    def files(self, repo_id: str, ref: str = "main") -> dict[str, bytes]:
        return dict(self.repos[repo_id].refs[ref])

    # --- request handling ---

    @staticmethod
    def _body(h: BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while (size := int(h.rfile.readline().strip(), 16)):
                body += h.rfile.read(size)
                h.rfile.readline()
            h.rfile.readline()
            return body
        return h.rfile.read(int(h.headers.get("Content-Length") or 0))

    @staticmethod
    def _send(h, status: int, payload=None, *, raw: bytes | None = None, headers: dict | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        body = self._body(h)
        with self.lock:
            self.requests.append((method, h.path, body))
            if h.headers.get("Authorization") != f"Bearer {self.token}":
                return self._send(h, 401, {"error": "Invalid credentials in Authorization header"},
                                  headers={"X-Error-Message": "Invalid credentials in Authorization header"})
            for i, (pattern, status) in enumerate(self.failures):
                if re.search(pattern, url.path):
                    del self.failures[i]
                    return self._send(h, status, {"error": f"injected {status}"},
                                      headers={"Retry-After": "0"} if status == 429 else None)
            if self.forbidden and method == "POST" and url.path != "/api/validate-yaml":
                return self._send(h, 403, {"error": "You don't have the rights to create a model under this namespace"},
                                  headers={"X-Error-Message": "You don't have the rights"})
            try:
                status, payload, extra = self.route(method, url.path, parse_qs(url.query), body, h.headers)
            except KeyError as e:
                status, payload, extra = 404, {"error": f"not found: {e}"}, {"X-Error-Code": "RepoNotFound"}
        if isinstance(payload, bytes):
            return self._send(h, status, raw=payload, headers=extra)
        self._send(h, status, payload, headers=extra)

    def route(self, method, path, query, body, headers):
        if (method, path) == ("POST", "/api/repos/create"):
            data = json.loads(body)
            repo_id = f"{data['organization']}/{data['name']}"
            if repo_id in self.repos:
                return 409, {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}, None
            self.repos[repo_id] = Repo()
            return 200, {"url": f"{self.url}/{repo_id}"}, None
        if (method, path) == ("POST", "/api/validate-yaml"):
            meta = yaml.safe_load(json.loads(body)["content"].split("---")[1]) or {}
            if "license" in meta and meta["license"] not in hub_rules.HUB_LICENSES:  # optional, as on the Hub
                return 400, {"errors": [{"message": f"license {meta.get('license')!r} is invalid"}]}, None
            return 200, {"errors": [], "warnings": []}, None
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/(paths-info|preupload|commit|branch)/(.+))?", path)
        if m:
            repo_id, action, rev = m.group(1), m.group(2), unquote(m.group(3) or "main")
            repo = self.repos[repo_id]
            if action is None:
                files = repo.refs["main"]
                return 200, {"id": repo_id, "sha": _git_oid(json.dumps(sorted(files)).encode()),
                             "siblings": [{"rfilename": p} for p in files]}, None
            if action == "branch":
                if rev in repo.refs:
                    return 409, {"error": "Reference already exists"}, None
                repo.refs[rev] = dict(repo.refs["main"])
                return 200, {}, None
            if rev not in repo.refs:
                return 404, {"error": "Invalid rev id"}, {"X-Error-Code": "RevisionNotFound"}
            files = repo.refs[rev]
            if action == "paths-info":
                paths = parse_qs(body.decode())["paths"]
                return 200, [self.entry(p, files[p]) for p in paths if p in files], None
            if action == "preupload":
                return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                        "oid": _git_oid(files[f["path"]]) if f["path"] in files else None}
                                       for f in json.loads(body)["files"]]}, None
            return self.commit(repo_id, repo, rev, query, body)
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            files = self.repos[m.group(1)].refs[unquote(m.group(2))]
            name = unquote(m.group(3))
            if name not in files:
                return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
            return 200, files[name], {"ETag": f'"{_git_oid(files[name])}"', "X-Repo-Commit": "0" * 40}
        return 404, {"error": f"no route {method} {path}"}, None

    @staticmethod
    def entry(path: str, data: bytes) -> dict:
        """A paths-info entry; *.ptl files are described as the Hub describes LFS files (.gitattributes),
        with the sha256 of the content and the git oid of the pointer, though they were uploaded inline."""
        if not path.endswith(".ptl"):
            return {"type": "file", "path": path, "size": len(data), "oid": _git_oid(data)}
        sha = hashlib.sha256(data).hexdigest()
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()
        return {"type": "file", "path": path, "size": len(data), "oid": _git_oid(pointer),
                "lfs": {"oid": sha, "size": len(data), "pointerSize": len(pointer)}}

    def commit(self, repo_id, repo, rev, query, body):
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        added = {line["value"]["path"]: base64.b64decode(line["value"]["content"])
                 for line in lines if line["key"] == "file"}
        assert all(line["key"] in ("header", "file") for line in lines), "only inline files are expected"
        ref = rev
        if query.get("create_pr") == ["1"]:
            repo.prs += 1
            ref = f"refs/pr/{repo.prs}"
            repo.refs[ref] = dict(repo.refs[rev])
        repo.refs[ref].update(added)
        self.commits.append(Commit(repo_id, ref, added, header["summary"]))
        oid = hashlib.sha1(f"{repo_id}{len(self.commits)}".encode()).hexdigest()
        pr = f"{self.url}/{repo_id}/discussions/{repo.prs}" if ref.startswith("refs/pr/") else None
        return 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid,
                     "pullRequestUrl": pr}, None

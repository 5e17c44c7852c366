"""A fake Hugging Face Hub on 127.0.0.1: one local HTTP server (FakeHub) speaking the endpoints huggingface_hub 2.4
and Gradio's "Sign in with Hugging Face" call, for every test that needs a Hub.

Repositories (models) live in memory, seeded by `add_folder`/`add_files` or made through the API. Implemented:
- GET  /api/whoami-v2 (the token's user; 401 for an unknown token)
- POST /api/repos/create; DELETE /api/repos/delete (only in the user's own namespace: 403 elsewhere)
- GET  /api/models/{repo} and /api/models/{repo}/revision/{rev} (model_info: sha, siblings; ?blobs=true: sizes)
- GET  /api/models/{repo}/tree/{rev}[/{path}][?recursive=true] (list_repo_tree; one page)
- GET  /api/models/{repo}/refs[?include_prs=1]; POST|DELETE /api/models/{repo}/branch/{branch}
- POST /api/models/{repo}/paths-info/{rev} (files matched by the repo's .gitattributes described as LFS files)
- POST /api/validate-yaml
- POST /api/models/{repo}/preupload/{rev}: every file "regular" (its bytes go inline, base64, in the commit, so no
  LFS or Xet upload ever starts); a file already there answers its git blob sha1 as "oid", as the Hub does for
  regular files, so that create_commit drops unchanged files (and makes no commit when nothing changed)
- POST /api/models/{repo}/commit/{rev}: ndjson (header, file, deletedFile, deletedFolder, lfsFile of a known
  blob); to a branch only by the owner (403 "pass `create_pr=1`" otherwise); ?create_pr=1 by anyone: refs/pr/N
- HEAD|GET /{repo}/resolve/{rev}/{path}: X-Repo-Commit, ETag (git blob sha1), for LFS files X-Linked-Etag (sha256)
  and X-Linked-Size; Content-Length; Range; no redirects. Private repos: 401/404 RepoNotFound but to the owner;
  gated ones: 401/403 GatedRepo but to the owner and users in `Repo.granted`
- OpenID Connect, as Gradio's OAuth (authlib) uses it: GET /.well-known/openid-configuration, GET /oauth/authorize
  (signs in `oauth_user`, or the user named by ?login_hint=, without asking), POST /oauth/token (client_secret_basic
  or _post; access_token = the user's token, id_token = RS256 JWT), GET /oauth/jwks, GET /oauth/userinfo;
  GET /avatars/{user}.svg
Revisions are branches, refs/pr/N or commit shas; a commit's sha is the hash of its tree, so the same files at two
refs share a sha. Reads need no token (public repos; unless `require_token`), a write needs a known one; an unknown
token is a 401 anywhere.
Every request is kept in `requests` with its headers, and answers can be made to fail on demand (`fail`, `drop`).
"""
import base64
import fnmatch
import hashlib
import json
import re
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import yaml

from vitspace.card import hub_rules

TOKEN = "hf_vitspaceTestToken0123456789abcdef"
USER = "alice"  # whose TOKEN is, when FakeHub is given no users
# The Hub's own .gitattributes for a new model repo (abridged), and *.ptl
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in (
    "*.7z", "*.bin", "*.ckpt", "*.gz", "*.h5", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.pb", "*.pickle",
    "*.pkl", "*.pt", "*.pth", "*.ptl", "*.safetensors", "*.tar", "*.tflite", "*.zip", "*tfevents*")).encode()
CREATE_PR = "Forbidden: pass `create_pr=1` as a query parameter to create a Pull Request"
_OIDC = ("/.well-known/openid-configuration", "/oauth/")


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


def _pointer(data: bytes) -> bytes:
    """The git-lfs pointer the Hub stores in git for an LFS file."""
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\n"
            f"size {len(data)}\n").encode()


@dataclass
class Repo:
    """A model repository: each ref (a branch or refs/pr/N) its files, {path: bytes}."""
    refs: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {".gitattributes": GITATTRIBUTES}})
    prs: int = 0
    private: bool = False
    gated: bool = False
    granted: set[str] = field(default_factory=set)     # users whose access to a gated repo was accepted
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)  # every commit sha answered, its files

    def sha(self, ref: str) -> str:
        files = self.refs[ref]
        sha = hashlib.sha1(json.dumps(sorted((p, _git_oid(d)) for p, d in files.items())).encode()).hexdigest()
        self.snapshots.setdefault(sha, dict(files))
        return sha

    def at(self, rev: str) -> tuple[str, dict[str, bytes]]:
        """(commit sha, files) of a branch, refs/pr/N or commit sha; KeyError if none."""
        if rev in self.refs:
            return self.sha(rev), self.refs[rev]
        if rev in self.snapshots:
            return rev, self.snapshots[rev]
        raise KeyError(rev)

    def is_lfs(self, files: dict[str, bytes], path: str) -> bool:
        patterns = [line.split()[0] for line in files.get(".gitattributes", b"").decode().splitlines()
                    if "filter=lfs" in line]
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in patterns)


@dataclass
class Commit:
    repo_id: str
    ref: str
    files: dict[str, bytes]          # added or changed
    summary: str
    deleted: list[str] = field(default_factory=list)
    author: str = ""
    oid: str = ""


class Request(tuple):
    """A request as (method, path, body), its headers in `.headers` (an http.client.HTTPMessage: `.get(name)` in
    any case, `.items()`, `str()` the whole header block)."""

    def __new__(cls, method: str, path: str, body: bytes, headers: Message):
        request = super().__new__(cls, (method, path, body))
        request.headers = headers
        return request

    method = property(lambda self: self[0])
    path = property(lambda self: self[1])
    body = property(lambda self: self[2])


@dataclass
class Fault:
    pattern: str
    status: int                      # 0: drop the connection without an answer
    retry_after: str | None = None


class _Answer(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def _not_found() -> _Answer:
    return _Answer(404, "Repository not found", "RepoNotFound")


class FakeHub:
    """The Hub on 127.0.0.1, on a free port, from `with FakeHub() as hub:`; point huggingface_hub at `hub.endpoint`
    (HF_ENDPOINT in a subprocess; constants.ENDPOINT and HF_HUB_OFFLINE=False in-process).

    users: {token: username}; by default only TOKEN, whose user (USER) may write anywhere, as before users existed.
    With `users`, each may write only in their own namespace (and in orgs' they are in: `orgs`, {org: [names]}).
    require_token: every request but the OpenID provider's must carry a known token (401 otherwise); by default
    so with the single token (publishing must send it everywhere), not with `users` (the Hub's anonymous reads);
    pass False to serve downloads to anyone.
    """

    def __init__(self, token: str = TOKEN, *, users: dict[str, str] | None = None,
                 orgs: dict[str, list[str]] | None = None, require_token: bool | None = None,
                 oauth_user: str | None = None,
                 oauth_client: tuple[str, str] = ("fakehub-client-id", "fakehub-client-secret"),
                 download_seconds: float = 0.0):
        self.token = token
        self.users: dict[str, str] = dict(users) if users else {token: USER}
        self.anywhere = users is None        # the default single token may write in every namespace
        self.require_token = users is None if require_token is None else require_token
        self.orgs = {k: list(v) for k, v in (orgs or {}).items()}
        self.oauth_user = oauth_user or next(iter(self.users.values()))
        self.oauth_client_id, self.oauth_client_secret = oauth_client
        self.download_seconds = download_seconds   # a file over 100 kB is sent in 20 parts over this long
        self.repos: dict[str, Repo] = {}
        self.commits: list[Commit] = []
        self.requests: list[Request] = []
        self.failures: list[Fault] = []     # each used once, in order
        self.forbidden = False              # every write answers 403
        self.codes: dict[str, dict] = {}    # OAuth authorization codes not yet exchanged
        self.lock = threading.Lock()
        self._key = None
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 (http.server's names)
                hub.handle(self, "GET")

            def do_POST(self):  # noqa: N802
                hub.handle(self, "POST")

            def do_HEAD(self):  # noqa: N802
                hub.handle(self, "HEAD")

            def do_DELETE(self):  # noqa: N802
                hub.handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- what tests call ---

    def fail(self, pattern: str, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """The next TIMES requests whose path (or "METHOD path") matches the regex PATTERN answer STATUS, with a
        Retry-After header when given (a 429 always carries one: 0 s unless given)."""
        after = str(retry_after) if retry_after is not None else ("0" if status == 429 else None)
        self.failures += [Fault(pattern, status, after)] * times

    def drop(self, pattern: str, times: int = 1) -> None:
        """The next TIMES matching requests are read, then their connection closed without an answer."""
        self.failures += [Fault(pattern, 0)] * times

    def add_files(self, repo_id: str, files: dict[str, bytes], *, private: bool = False, gated: bool = False,
                  ref: str = "main") -> Repo:
        """A repository holding FILES ({path: bytes}; the Hub's .gitattributes unless given), as pushed by its
        owner (the namespace)."""
        with self.lock:
            repo = self.repos.setdefault(repo_id, Repo(private=private, gated=gated))
            repo.refs.setdefault(ref, dict(repo.refs["main"])).update(files)
            return repo

    def add_folder(self, repo_id: str, folder: Path, **kwargs) -> Repo:
        """A repository holding a local folder's files (e.g. `save_pretrained`'s output; subfolders kept,
        symlinks followed, .git and .cache left out)."""
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*"))
                 if p.is_file() and not {".git", ".cache"} & set(p.relative_to(folder).parts)}
        return self.add_files(repo_id, files, **kwargs)

    def edit(self, repo_id: str, path: str, data: bytes, ref: str = "main") -> None:
        """A commit made on the Hub's website."""
        with self.lock:
            self.repos[repo_id].refs[ref][path] = data

    def reach_in_process(self, monkeypatch, token: str | None = None) -> None:
        """Point this process's huggingface_hub at the fake, offline mode lifted for it, as HF_ENDPOINT and
        HF_HUB_OFFLINE=0 would at import; HF_TOKEN set to TOKEN when given."""
        from huggingface_hub import constants
        monkeypatch.setattr(constants, "ENDPOINT", self.endpoint)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            self.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        if token:
            monkeypatch.setenv("HF_TOKEN", token)

    def files(self, repo_id: str, ref: str = "main") -> dict[str, bytes]:
        return dict(self.repos[repo_id].refs[ref])

    def user(self, token: str) -> str | None:
        return self.users.get(token)

    def token_of(self, user: str) -> str:
        return next(t for t, u in self.users.items() if u == user)

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

    def _send(self, h, status: int, payload=None, *, raw: bytes | None = None, headers: dict | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
        h.send_response(status)
        headers = {"Content-Type": "application/octet-stream" if raw is not None else "application/json",
                   "Content-Length": str(len(body)), **(headers or {})}
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if h.command == "HEAD":
            return
        parts = 20 if self.download_seconds and len(body) > 100_000 and status in (200, 206) else 1
        step = -(-len(body) // parts)
        for i in range(0, len(body), step or 1):
            h.wfile.write(body[i:i + step])
            if parts > 1:
                h.wfile.flush()
                time.sleep(self.download_seconds / parts)

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        body = self._body(h)
        with self.lock:
            self.requests.append(Request(method, h.path, body, h.headers))
            for i, fault in enumerate(self.failures):
                if re.search(fault.pattern, url.path) or re.search(fault.pattern, f"{method} {url.path}"):
                    del self.failures[i]
                    if not fault.status:
                        h.close_connection = True
                        return
                    return self._send(h, fault.status, {"error": f"injected {fault.status}"},
                                      headers={"Retry-After": fault.retry_after} if fault.retry_after else None)
            try:
                status, payload, extra = self.route(method, url.path, parse_qs(url.query), body, h.headers)
            except _Answer as a:
                status, payload = a.status, {"error": a.message}
                extra = {"X-Error-Message": a.message, **({"X-Error-Code": a.code} if a.code else {}), **a.headers}
            except Exception as e:  # a request this fake does not understand: a 500 that says why, not a hang-up
                traceback.print_exc()
                status, payload, extra = 500, {"error": f"fake Hub: {e!r}"}, {"X-Error-Message": f"fake Hub: {e!r}"}
        if isinstance(payload, bytes):
            return self._send(h, status, raw=payload, headers=extra)
        self._send(h, status, payload, headers=extra)

    def _caller(self, headers) -> str | None:
        """The user of the request's bearer token; None without one; a 401 for a token the Hub does not know."""
        auth = headers.get("Authorization") or ""
        if not auth.lower().startswith("bearer "):
            return None
        user = self.users.get(auth[7:].strip())
        if user is None:
            raise _Answer(401, "Invalid credentials in Authorization header")
        return user

    def can_write(self, user: str | None, namespace: str) -> bool:
        return user is not None and (self.anywhere or user == namespace or user in self.orgs.get(namespace, ()))

    def _readable(self, repo_id: str, user: str | None) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and not self.can_write(user, repo_id.split("/")[0])):
            raise _Answer(401, "Repository not found", "RepoNotFound") if user is None else _not_found()
        return repo

    def _write_check(self, user: str | None) -> None:
        if user is None:
            raise _Answer(401, "Invalid username or password.")
        if self.forbidden:
            raise _Answer(403, "You don't have the rights to create a model under this namespace")

    def route(self, method, path, query, body, headers):
        if path.startswith(_OIDC):
            return self.oidc(method, path, query, body, headers)
        if path.startswith("/avatars/"):
            return 200, (b'<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">'
                         b'<circle cx="16" cy="16" r="16" fill="#fb0"/></svg>'), {"Content-Type": "image/svg+xml"}
        user = self._caller(headers)
        if user is None and self.require_token:
            raise _Answer(401, "Invalid credentials in Authorization header")
        if (method, path) == ("GET", "/api/whoami-v2"):
            if user is None:
                raise _Answer(401, "Invalid credentials in Authorization header")
            return 200, self.whoami(user), None
        if (method, path) == ("POST", "/api/validate-yaml"):
            card = json.loads(body)["content"]
            meta = (yaml.safe_load(card.split("---")[1]) if card.startswith("---") else None) or {}
            if "license" in meta and meta["license"] not in hub_rules.HUB_LICENSES:  # optional, as on the Hub
                return 400, {"errors": [{"message": f"license {meta.get('license')!r} is invalid"}]}, None
            return 200, {"errors": [], "warnings": []}, None
        if (method, path) in (("POST", "/api/repos/create"), ("DELETE", "/api/repos/delete")):
            self._write_check(user)
            data = json.loads(body)
            namespace = data.get("organization") or user
            repo_id = f"{namespace}/{data['name']}"
            if data.get("type", "model") != "model":
                raise _Answer(400, "this fake Hub holds models only")
            if not self.can_write(user, namespace):
                raise _Answer(403, f'You don\'t have the rights to create a model under the namespace "{namespace}"')
            if method == "DELETE":
                if self.repos.pop(repo_id, None) is None:
                    raise _not_found()
                return 200, {}, None
            if repo_id in self.repos:
                return 409, {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}, \
                    {"X-Error-Message": "You already created this model repo"}
            self.repos[repo_id] = Repo(private=data.get("visibility", "private" if data.get("private") else "public")
                                       != "public")
            return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id, "id": _id(repo_id)}, None
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/([a-z-]+)(?:/([^/]+)(/.*)?)?)?", path)
        if m:
            return self.api(method, m.group(1), m.group(2), unquote(m.group(3) or "main"),
                            unquote((m.group(4) or "/")[1:]), query, body, user)
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m and method in ("GET", "HEAD"):
            return self.resolve(m.group(1), unquote(m.group(2)), unquote(m.group(3)), headers, user)
        return 404, {"error": f"no route {method} {path}"}, None

    # --- /api/models/{repo}/... ---

    def api(self, method, repo_id, action, rev, subpath, query, body, user):
        repo = self._readable(repo_id, user)
        owner = self.can_write(user, repo_id.split("/")[0])
        if action == "branch":
            self._write_check(user)
            if not owner:
                raise _Answer(403, f"You don't have write access to {repo_id}")
            if method == "DELETE":
                if rev not in repo.refs or rev == "main":
                    raise _Answer(404, "Invalid rev id", "RevisionNotFound")
                del repo.refs[rev]
                return 200, {}, None
            if rev in repo.refs:
                raise _Answer(409, "Reference already exists")
            start = (json.loads(body) if body else {}).get("startingPoint") or "main"
            repo.refs[rev] = dict(self._at(repo, start)[1])
            return 200, {}, None
        if action == "refs":
            def ref(name, full):
                return {"name": name, "ref": full, "targetCommit": repo.sha(name)}
            out = {"branches": [ref(r, f"refs/heads/{r}") for r in repo.refs if not r.startswith("refs/")],
                   "converts": [], "tags": []}
            if query.get("include_prs"):
                out["pullRequests"] = [ref(r, r) for r in repo.refs if r.startswith("refs/pr/")]
            return 200, out, None
        if action in ("preupload", "commit") and not owner and query.get("create_pr") != ["1"]:
            self._write_check(user)
            raise _Answer(403, CREATE_PR)
        if action in ("preupload", "commit"):
            self._write_check(user)
        if action is None:
            rev = "main"
        elif action not in ("revision", "tree", "paths-info", "preupload", "commit"):
            return 404, {"error": f"no route {method} {action}"}, None
        sha, files = self._at(repo, rev)
        flag = {k: v[0].lower() in ("1", "true") for k, v in query.items()}
        if action in (None, "revision"):
            return 200, self.model_info(repo_id, repo, sha, files, blobs=flag.get("blobs", False)), None
        if action == "tree":
            return 200, self.tree(repo, files, subpath, flag.get("recursive", False)), None
        if action == "paths-info":
            paths = parse_qs(body.decode()).get("paths", [])
            return 200, [e for p in paths for e in self.tree(repo, files, p, False, entry_only=True)], None
        if action == "preupload":
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                    "oid": _git_oid(files[f["path"]]) if f["path"] in files else None}
                                   for f in json.loads(body)["files"]]}, None
        return self.commit(repo_id, repo, rev, query, body, user)

    def _at(self, repo: Repo, rev: str) -> tuple[str, dict[str, bytes]]:
        try:
            return repo.at(rev)
        except KeyError:
            raise _Answer(404, f"Invalid rev id: {rev}", "RevisionNotFound") from None

    def model_info(self, repo_id, repo, sha, files, blobs=False) -> dict:
        siblings = []
        for p in sorted(files):
            s = {"rfilename": p}
            if blobs:
                e = self.entry(repo, files, p)
                s.update(size=e["size"], blobId=e["oid"])
                if "lfs" in e:
                    s["lfs"] = {"size": e["size"], "sha256": e["lfs"]["oid"], "pointerSize": e["lfs"]["pointerSize"]}
            siblings.append(s)
        card = files.get("README.md", b"").decode(errors="replace")
        meta = (yaml.safe_load(card.split("---")[1]) if card.startswith("---") and card.count("---") >= 2 else None)
        return {"_id": _id(repo_id), "id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0], "sha": sha,
                "lastModified": "2026-01-01T00:00:00.000Z", "createdAt": "2026-01-01T00:00:00.000Z",
                "private": repo.private, "gated": "auto" if repo.gated else False, "disabled": False,
                "downloads": 0, "likes": 0, "tags": list((meta or {}).get("tags") or []),
                "cardData": meta or None, "siblings": siblings}

    def entry(self, repo: Repo, files: dict[str, bytes], path: str) -> dict:
        """A tree/paths-info entry. Files the repo's .gitattributes sends to LFS are described as the Hub describes
        LFS files, with the sha256 of the content and the git oid of the pointer, though they were uploaded inline."""
        data = files[path]
        if not repo.is_lfs(files, path):
            return {"type": "file", "path": path, "size": len(data), "oid": _git_oid(data)}
        pointer = _pointer(data)
        return {"type": "file", "path": path, "size": len(data), "oid": _git_oid(pointer),
                "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": len(pointer)}}

    def tree(self, repo, files, folder: str, recursive: bool, entry_only: bool = False) -> list[dict]:
        """The entries under FOLDER ("" the root), or (ENTRY_ONLY, as paths-info) FOLDER's own entry."""
        folder = folder.strip("/")
        if entry_only:
            if folder in files:
                return [self.entry(repo, files, folder)]
            inside = sorted(p for p in files if p.startswith(folder + "/"))
            return [{"type": "directory", "path": folder, "size": 0,
                     "oid": _git_oid(json.dumps(inside).encode())}] if inside else []
        prefix = folder + "/" if folder else ""
        under = sorted(p for p in files if p.startswith(prefix))
        if folder and not under:
            raise _Answer(404, f"{folder} does not exist on this revision", "EntryNotFound")
        out, dirs = [], []
        for p in under:
            rest = p[len(prefix):].split("/")
            for depth in range(1, len(rest)):
                d = prefix + "/".join(rest[:depth])
                if d not in dirs and (recursive or depth == 1):
                    dirs.append(d)
            if recursive or len(rest) == 1:
                out.append(self.entry(repo, files, p))
        return [*(self.tree(repo, files, d, False, entry_only=True)[0] for d in dirs), *out]

    def commit(self, repo_id, repo, rev, query, body, user):
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        known = {hashlib.sha256(d).hexdigest(): d for r in self.repos.values() for s in (*r.refs.values(),
                 *r.snapshots.values()) for d in s.values()} if any(x["key"] == "lfsFile" for x in lines) else {}
        added, deleted = {}, []
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                added[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                if value["oid"] not in known:
                    raise _Answer(400, f"LFS file {value['path']} was never uploaded")
                added[value["path"]] = known[value["oid"]]
            elif key in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
            elif key != "header":
                raise _Answer(400, f"unknown commit operation {key!r}")
        sha, files = self._at(repo, rev)
        if header.get("parentCommit") not in (None, sha):
            raise _Answer(412, "A commit has happened since. Please refresh and try again.")
        ref = rev
        if query.get("create_pr") == ["1"]:
            repo.prs += 1
            ref = f"refs/pr/{repo.prs}"
            repo.refs[ref] = dict(files)
        elif rev not in repo.refs:
            raise _Answer(400, f"Invalid rev id: {rev} is not a branch")
        tree = repo.refs[ref]
        for path in deleted:
            gone = [p for p in tree if p == path.rstrip("/") or p.startswith(path.rstrip("/") + "/")]
            if not gone:
                raise _Answer(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            for p in gone:
                del tree[p]
        tree.update(added)
        oid = repo.sha(ref)
        self.commits.append(Commit(repo_id, ref, added, header["summary"], deleted, user or "", oid))
        pr = f"{self.url}/{repo_id}/discussions/{repo.prs}" if ref.startswith("refs/pr/") else None
        return 200, {"success": True, "commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid,
                     "commitMessage": header["summary"], "pullRequestUrl": pr}, None

    # --- /{repo}/resolve/{rev}/{path} ---

    def resolve(self, repo_id, rev, name, headers, user):
        repo = self._readable(repo_id, user)
        if repo.gated and not self.can_write(user, repo_id.split("/")[0]) and user not in repo.granted:
            raise _Answer(401 if user is None else 403,
                          f"Access to model {repo_id} is restricted. You must have access to it and be authenticated "
                          "to access it. Please log in.", "GatedRepo")
        sha, files = self._at(repo, rev)
        if name not in files:
            raise _Answer(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        data = files[name]
        extra = {"X-Repo-Commit": sha, "ETag": f'"{_git_oid(data)}"', "Accept-Ranges": "bytes"}
        if repo.is_lfs(files, name):
            extra.update({"ETag": f'"{_git_oid(_pointer(data))}"',
                          "X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Linked-Size": str(len(data))})
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", headers.get("Range") or "")
        if m and data:
            start, end = int(m.group(1)), int(m.group(2) or len(data) - 1)
            if start >= len(data):
                return 416, b"", {**extra, "Content-Range": f"bytes */{len(data)}"}
            end = min(end, len(data) - 1)
            return 206, data[start:end + 1], {**extra, "Content-Range": f"bytes {start}-{end}/{len(data)}"}
        return 200, data, extra

    # --- users and OpenID Connect ---

    def whoami(self, user: str) -> dict:
        orgs = [{"type": "org", "name": o, "fullname": o, "avatarUrl": f"{self.url}/avatars/{o}.svg", "roleInOrg":
                 "write"} for o, members in self.orgs.items() if user in members]
        return {"type": "user", "id": _id(user), "name": user, "fullname": user.title(), "email": f"{user}@example.com",
                "emailVerified": True, "canPay": False, "isPro": False, "periodEnd": None,
                "avatarUrl": f"{self.url}/avatars/{user}.svg", "orgs": orgs,
                "auth": {"type": "access_token", "accessToken": {"displayName": "fakehub", "role": "write",
                                                                 "createdAt": "2026-01-01T00:00:00.000Z"}}}

    def claims(self, user: str) -> dict:
        return {"sub": _id(user), "name": user.title(), "preferred_username": user, "profile": f"{self.url}/{user}",
                "picture": f"{self.url}/avatars/{user}.svg", "website": "", "isPro": False, "canPay": False,
                "orgs": []}

    @property
    def key(self):
        """The RS256 key that signs id tokens, made on first use (a second or so of CPU)."""
        if self._key is None:
            self._key = jose()[0].generate_key("RSA", 2048, is_private=True, options={"kid": "fakehub-1"})
        return self._key

    def _jwt(self, claims: dict) -> str:
        return jose()[1].encode({"alg": "RS256", "kid": self.key.as_dict()["kid"], "typ": "JWT"}, claims,
                                 self.key).decode()

    def oidc(self, method, path, query, body, headers):
        if path == "/.well-known/openid-configuration":
            return 200, {
                "issuer": self.url, "authorization_endpoint": f"{self.url}/oauth/authorize",
                "token_endpoint": f"{self.url}/oauth/token", "userinfo_endpoint": f"{self.url}/oauth/userinfo",
                "jwks_uri": f"{self.url}/oauth/jwks", "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": ["openid", "profile", "email", "read-repos", "write-repos", "manage-repos",
                                     "write-discussions", "read-billing", "inference-api", "gated-repos"],
                "claims_supported": ["sub", "name", "preferred_username", "profile", "picture", "website", "email",
                                     "email_verified", "isPro", "canPay", "orgs"]}, None
        if path == "/oauth/jwks":
            return 200, {"keys": [{**self.key.as_dict(is_private=False), "use": "sig", "alg": "RS256"}]}, None
        one = {k: v[0] for k, v in query.items()}
        if (method, path) == ("GET", "/oauth/authorize"):
            if one.get("client_id") != self.oauth_client_id or one.get("response_type") != "code" \
                    or not one.get("redirect_uri"):
                return 400, {"error": "invalid_request", "error_description": "unknown client or bad request"}, None
            user = one.get("login_hint") or self.oauth_user
            if user not in self.users.values():
                return 400, {"error": "access_denied", "error_description": f"no user {user}"}, None
            code = hashlib.sha1(f"{time.time_ns()}{user}".encode()).hexdigest()
            self.codes[code] = {"user": user, "scope": one.get("scope", "openid"), "nonce": one.get("nonce"),
                                "redirect_uri": one["redirect_uri"], "client_id": one["client_id"]}
            target = one["redirect_uri"]
            back = {"code": code, **({"state": one["state"]} if "state" in one else {})}
            return 302, b"", {"Location": target + ("&" if "?" in target else "?") + urlencode(back)}
        if (method, path) == ("POST", "/oauth/token"):
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            client = (form.get("client_id"), form.get("client_secret"))
            auth = headers.get("Authorization") or ""
            if auth.lower().startswith("basic "):
                pair = base64.b64decode(auth[6:]).decode()
                client = tuple(unquote(p) for p in pair.split(":", 1))
            if client != (self.oauth_client_id, self.oauth_client_secret):
                return 401, {"error": "invalid_client"}, None
            grant = self.codes.pop(form.get("code", ""), None)
            if form.get("grant_type") != "authorization_code" or grant is None \
                    or grant["redirect_uri"] != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant"}, None
            now, user = int(time.time()), grant["user"]
            claims = {**self.claims(user), "iss": self.url, "aud": self.oauth_client_id, "iat": now,
                      "exp": now + 3600, "auth_time": now, **({"nonce": grant["nonce"]} if grant["nonce"] else {})}
            return 200, {"access_token": self.token_of(user), "token_type": "bearer", "expires_in": 28800,
                         "scope": grant["scope"], "id_token": self._jwt(claims)}, {"Cache-Control": "no-store"}
        if path == "/oauth/userinfo":
            user = self._caller(headers)
            if user is None:
                raise _Answer(401, "Invalid credentials in Authorization header")
            return 200, self.claims(user), None
        return 404, {"error": f"no route {method} {path}"}, None


def jose():
    """authlib.jose's (JsonWebKey, jwt): it warns that joserfc is its successor, and keeps this API until 2.0."""
    import authlib.deprecate  # noqa: F401 (its import puts an "always" filter first: ours must come after it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.jose import JsonWebKey, jwt
    return JsonWebKey, jwt


def _id(name: str) -> str:
    """A 24-hex id, as the Hub's are."""
    return hashlib.sha1(name.encode()).hexdigest()[:24]


SCOPES = "openid profile read-repos write-repos manage-repos write-discussions"  # the README's hf_oauth_scopes


def space_env(hub: FakeHub) -> dict[str, str]:
    """The environment of a Space with `hf_oauth: true` on this fake Hub: Gradio's real OAuth (gradio.oauth reads
    these at import) signs visitors in against the fake's OpenID provider. SPACE_HOST stays unset: with it, Gradio
    sends the sign-in back to https://SPACE_HOST."""
    return {"SYSTEM": "spaces", "SPACE_ID": "someone/vitspace", "OAUTH_CLIENT_ID": hub.oauth_client_id,
            "OAUTH_CLIENT_SECRET": hub.oauth_client_secret, "OAUTH_SCOPES": SCOPES,
            "OPENID_PROVIDER_URL": hub.endpoint, "HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0"}

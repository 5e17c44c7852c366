"""vitspace.card.hub against a fake Hub: a local HTTP server speaking the endpoints HfApi calls.

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
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml
from huggingface_hub import constants
from support import ROOT

from vitspace.card import hub as publish
from vitspace.card import hub_rules
from vitspace.card.context import CardContext
from vitspace.card.publish import main as publish_main
from vitspace.compress.manifest import MANIFEST
from vitspace.train import record as trainlog

MODEL = "deit-tiny-cifar10"
TOKEN = "hf_vitspaceTestToken0123456789abcdef"
REPO = "alice/deit-tiny"


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


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def artifacts(tiny_build):
    return tiny_build


@pytest.fixture
def hub(monkeypatch):
    """A fake Hub reached through the endpoint huggingface_hub uses, with offline mode lifted for it."""
    with FakeHub() as fake:
        monkeypatch.setattr(constants, "ENDPOINT", fake.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("VITSPACE_HUB_RETRY_DELAY", "0.01")
        yield fake


@pytest.fixture
def run(capsys, caplog):
    """publish.main in-process: (exit status, stdout, stderr + every log record)."""
    caplog.set_level(logging.INFO)

    def call(*args: str) -> tuple[int, str, str]:
        caplog.clear()
        rc = publish_main(list(args))
        out, err = capsys.readouterr()
        return rc, out, err + "\n" + caplog.text
    return call


def _args(artifacts: Path, *extra: str, repo: str = REPO) -> list[str]:
    return ["--model", MODEL, "--repo-id", repo, "--artifacts", str(artifacts), *extra]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _assert_no_token(*texts: str, folders: tuple[Path, ...] = (), hub: FakeHub | None = None) -> None:
    for text in texts:
        assert TOKEN not in text
    for folder in folders:
        for p in folder.rglob("*"):
            assert not p.is_file() or TOKEN.encode() not in p.read_bytes(), p
    for _, _, body in hub.requests if hub else []:
        assert TOKEN.encode() not in body


# --- tests ----------------------------------------------------------------------------------------

def test_dry_run_writes_the_tree_and_the_push_commits_exactly_it(hub, run, artifacts, tmp_path):
    dry = tmp_path / "dry"
    rc, out, err = run(*_args(artifacts, "--dry-run", str(dry)))
    assert rc == 0, err
    assert hub.requests == [], "a dry run contacts nothing"
    tree = _tree(dry)
    assert set(tree) == {"README.md", "config.json", MANIFEST, "int8-mobile.ptl", publish.MARKER}
    assert tree[MANIFEST] == (artifacts / MANIFEST).read_bytes()
    assert tree["int8-mobile.ptl"] == (artifacts / "int8-mobile.ptl").read_bytes()
    config = json.loads(tree["config.json"])
    assert config["model"] == MODEL and config["id2label"]["0"] == "airplane" and config["num_labels"] == 10
    assert config["preprocessing"]["library"] == "timm" and config["pretrained"] is False

    rc, out, err = run(*_args(artifacts))
    assert rc == 0, err
    assert len(hub.commits) == 1
    commit = hub.commits[0]
    assert commit.ref == "main" and commit.files == tree, "the commit holds the dry-run tree, byte for byte"
    assert f"committed 5 files to {REPO}" in out
    _assert_no_token(out, err, folders=(dry, artifacts), hub=hub)


def test_trained_weights_publish_their_training_curves_beside_the_card(run, artifacts, tmp_path):
    trained = tmp_path / "trained"
    shutil.copytree(artifacts, trained)
    manifest = json.loads((trained / MANIFEST).read_text())
    (trained / MANIFEST).write_text(json.dumps({**manifest, "pretrained": True, "origin": "embedded"}))
    rc, out, err = run(*_args(trained, "--dry-run", str(tmp_path / "dry")))
    assert rc == 0, err
    tree = _tree(tmp_path / "dry")
    assert tree[trainlog.CURVES_FILE] == trainlog.CURVES.read_bytes()
    assert f"]({trainlog.CURVES_FILE})".encode() in tree["README.md"]


def test_second_identical_run_makes_no_commit(hub, run, artifacts):
    assert run(*_args(artifacts))[0] == 0
    rc, out, err = run(*_args(artifacts))
    assert rc == 0, err
    assert len(hub.commits) == 1
    assert "up to date" in out and "no commit" in out
    assert sum("/commit/" in path for _, path, _ in hub.requests) == 1


def test_429_and_5xx_are_retried_then_succeed(hub, run, artifacts):
    hub.fail(r"/api/repos/create", 503)
    hub.fail(r"/paths-info/", 429)
    hub.fail(r"/commit/", 502)
    rc, _, err = run(*_args(artifacts))
    assert rc == 0, err
    assert len(hub.commits) == 1 and hub.failures == []
    assert err.count("retrying in") == 3
    assert "HTTP 503" in err and "HTTP 429" in err and "HTTP 502" in err


def test_persistent_5xx_fails_clearly_and_keeps_the_staged_tree(hub, run, artifacts):
    hub.fail(r"/api/repos/create", 500, times=10)
    rc, _, err = run(*_args(artifacts, repo="alice/down"))
    assert rc == 1
    assert "failed with HTTP 500 on each of 4 tries" in err
    staged = artifacts / "hub" / "alice--down"
    assert f"staged in {staged}" in err
    assert (staged / "int8-mobile.ptl").read_bytes() == (artifacts / "int8-mobile.ptl").read_bytes()
    assert hub.commits == []


def test_a_card_edited_on_the_hub_is_kept_without_overwrite_card(hub, run, artifacts):
    assert run(*_args(artifacts))[0] == 0
    rendered = hub.files(REPO)["README.md"]
    hand = b"---\nlicense: apache-2.0\n---\n# My own words about this model\n"
    hub.edit(REPO, "README.md", hand)
    hub.edit(REPO, "config.json", b"{}\n")   # drift in another file: it is still uploaded

    rc, out, err = run(*_args(artifacts))
    assert rc == 0, err
    assert hub.files(REPO)["README.md"] == hand
    assert set(hub.commits[-1].files) == {"config.json"}
    assert "kept README.md on the Hub" in out and "--overwrite-card" in out

    rc, out, err = run(*_args(artifacts))       # still hand-written: kept, nothing else to do
    assert rc == 0 and len(hub.commits) == 2 and "kept README.md" in out

    rc, out, err = run(*_args(artifacts, "--overwrite-card"))
    assert rc == 0, err
    assert hub.files(REPO)["README.md"] == rendered
    assert "README.md" in hub.commits[-1].files

    rc, out, err = run(*_args(artifacts))       # ours again: no longer counts as hand-edited
    assert rc == 0 and "up to date" in out and "kept" not in out


def test_an_existing_readme_not_written_by_vitspace_is_kept(hub, run, artifacts):
    hub.repos[REPO] = Repo()
    hub.edit(REPO, "README.md", b"# someone's card\n")
    rc, _, err = run(*_args(artifacts))
    assert rc == 0, err
    assert hub.files(REPO)["README.md"] == b"# someone's card\n"
    assert "README.md" not in hub.commits[-1].files and "int8-mobile.ptl" in hub.commits[-1].files


def test_401_says_the_token_was_rejected(run, artifacts):
    with FakeHub(token="hf_someOtherToken") as other, pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "ENDPOINT", other.url)
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        mp.setenv("HF_TOKEN", TOKEN)
        rc, out, err = run(*_args(artifacts))
    assert rc == 1
    assert "rejected the token (401 Unauthorized)" in err and "hf auth login" in err
    _assert_no_token(out, err, folders=(artifacts,), hub=other)


def test_403_says_permission_is_missing(hub, run, artifacts):
    hub.forbidden = True
    rc, out, err = run(*_args(artifacts, repo="bob/model"))
    assert rc == 1
    assert "no permission to write to bob/model (403 Forbidden)" in err
    _assert_no_token(out, err, hub=hub)


def test_network_down_is_retried_then_reported(run, artifacts, monkeypatch):
    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("VITSPACE_HUB_RETRY_DELAY", "0.01")
    rc, out, err = run(*_args(artifacts))
    assert rc == 1
    assert f"cannot reach the Hub at http://127.0.0.1:{port} after 4 tries" in err
    assert err.count("retrying in") == 3
    assert "Nothing was lost" in err
    _assert_no_token(out, err)


def test_offline_mode_is_reported(hub, run, artifacts, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    rc, _, err = run(*_args(artifacts))
    assert rc == 1 and "HF_HUB_OFFLINE is set" in err
    assert hub.requests == []


@pytest.mark.parametrize("repo_id", ["no-namespace", "alice/bad name", "a/b/c", "alice/-dash"])
def test_invalid_repo_id_is_a_bad_argument(hub, run, artifacts, repo_id):
    rc, _, err = run(*_args(artifacts, repo=repo_id))
    assert rc == 2 and "invalid repo id" in err
    assert hub.requests == []


def test_no_token_says_how_to_get_one(hub, run, artifacts, monkeypatch, tmp_path):
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    rc, _, err = run(*_args(artifacts))
    assert rc == 1
    assert "no Hugging Face token" in err and "HF_TOKEN" in err and "hf auth login" in err
    assert hub.requests == []


def test_metadata_the_hub_would_reject_stops_before_any_upload(hub, run, artifacts, monkeypatch):
    monkeypatch.setattr(CardContext, "tags", lambda self: ["vitspace", ""])
    rc, _, err = run(*_args(artifacts))
    assert rc == 1
    assert "card metadata the Hub would reject" in err and "tags" in err
    assert hub.requests == []


def test_revision_branch_and_pull_request(hub, run, artifacts):
    rc, out, err = run(*_args(artifacts, "--revision", "dev"))
    assert rc == 0, err
    assert hub.commits[-1].ref == "dev" and "int8-mobile.ptl" not in hub.files(REPO, "main")

    rc, out, err = run(*_args(artifacts, "--create-pr"))
    assert rc == 0, err
    assert hub.commits[-1].ref == "refs/pr/1" and "pull request" in out and "/discussions/1" in out
    assert "int8-mobile.ptl" not in hub.files(REPO, "main"), "a pull request leaves main alone"


def test_private_flag_reaches_create_repo(hub, run, artifacts):
    assert run(*_args(artifacts, "--private"))[0] == 0
    create = next(json.loads(body) for method, path, body in hub.requests if path == "/api/repos/create")
    assert create["visibility"] == "private"


@pytest.mark.slow
def test_command_line_in_a_subprocess(hub, artifacts, tmp_path):
    """`python -m vitspace.card.publish` as users run it: HF_ENDPOINT and HF_HUB_OFFLINE=0 from the environment."""
    env = dict(os.environ, HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_TOKEN=TOKEN,
               VITSPACE_HUB_RETRY_DELAY="0.01", HF_HOME=str(tmp_path / "hf"))
    hub.fail(r"/commit/", 503)
    proc = subprocess.run([sys.executable, "-m", "vitspace.card.publish", *_args(artifacts, repo="carol/tiny")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "committed 5 files to carol/tiny" in proc.stdout and "retrying" in proc.stderr
    assert len(hub.commits) == 1
    _assert_no_token(proc.stdout, proc.stderr, hub=hub)

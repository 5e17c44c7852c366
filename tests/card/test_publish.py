"""vitspace.card.hub against a fake Hub: support.fakehub.FakeHub, a local HTTP server speaking the endpoints HfApi
calls (listed there); every request must carry the token it was started with, and answers can be made to fail on
demand (429, 5xx, 403).
"""
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import constants
from support import ROOT
from support.fakehub import TOKEN, FakeHub, Repo

from vitspace.card import hub as publish
from vitspace.card.context import CardContext
from vitspace.card.publish import main as publish_main
from vitspace.compress.manifest import MANIFEST
from vitspace.train import record as trainlog

MODEL = "deit-tiny-cifar10"
REPO = "alice/deit-tiny"


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def artifacts(tiny_build):
    return tiny_build


@pytest.fixture
def hub(monkeypatch):
    """A fake Hub reached through the endpoint huggingface_hub uses, with offline mode lifted for it."""
    with FakeHub() as fake:
        fake.reach_in_process(monkeypatch, TOKEN)
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
    assert set(tree) == {"README.md", "config.json", "vitspace.json", MANIFEST, "int8-mobile.ptl", publish.MARKER}
    assert tree[MANIFEST] == (artifacts / MANIFEST).read_bytes()
    assert tree["int8-mobile.ptl"] == (artifacts / "int8-mobile.ptl").read_bytes()
    config = json.loads(tree["config.json"])  # what the loaders read: a timm data config and the labels
    assert config["pretrained_cfg"]["input_size"] == [3, 32, 32] and config["id2label"]["0"] == "airplane"
    own = json.loads(tree["vitspace.json"])
    assert own["model"] == MODEL and own["id2label"]["0"] == "airplane" and own["num_labels"] == 10
    assert own["preprocessing"]["library"] == "timm" and own["pretrained"] is False

    rc, out, err = run(*_args(artifacts))
    assert rc == 0, err
    assert len(hub.commits) == 1
    commit = hub.commits[0]
    assert commit.ref == "main" and commit.files == tree, "the commit holds the dry-run tree, byte for byte"
    assert f"committed 6 files to {REPO}" in out
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


def test_a_dropped_connection_is_retried_then_succeeds(hub, run, artifacts):
    hub.drop(r"/commit/")   # the commit request read, then the connection closed without an answer
    rc, _, err = run(*_args(artifacts))
    assert rc == 0, err
    assert len(hub.commits) == 1 and "RemoteProtocolError from the Hub; retrying in" in err


def test_a_rate_limit_waits_as_long_as_retry_after_says(hub, run, artifacts):
    hub.fail(r"/commit/", 429, retry_after=2)
    rc, _, err = run(*_args(artifacts))
    assert rc == 0, err
    assert "HTTP 429 from the Hub; retrying in 2 s" in err  # not the first backoff's fraction of a second


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
    assert "committed 6 files to carol/tiny" in proc.stdout and "retrying" in proc.stderr
    assert len(hub.commits) == 1
    _assert_no_token(proc.stdout, proc.stderr, hub=hub)

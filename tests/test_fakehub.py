"""The fake Hub (support.fakehub) answers huggingface_hub's own client as the Hub does: users and namespaces, pull
requests by anyone, unchanged files skipped by create_commit, snapshot_download with subfolders, private and gated
repos, faults, and the OpenID provider's code flow."""
import base64
import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import httpx2
import pytest
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError
from support.fakehub import FakeHub, jose

ALICE, BOB = "hf_aliceFake0123456789abcdefghijklmn", "hf_bobFake0123456789abcdefghijklmnop"


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with FakeHub(users={ALICE: "alice", BOB: "bob"}) as fake:
        yield fake


def _api(hub, token):
    return HfApi(endpoint=hub.endpoint, token=token)


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "src"
    (src / "onnx").mkdir(parents=True)
    (src / "openvino").mkdir()
    (src / "config.json").write_text('{"model_type": "vit"}\n')
    (src / "onnx" / "model.onnx").write_bytes(os.urandom(150_000))
    (src / "openvino" / "openvino_model.xml").write_text("<net/>\n")
    (src / "openvino" / "openvino_model.bin").write_bytes(os.urandom(1_000))
    return src


def test_whoami_answers_each_token_and_refuses_an_unknown_one(hub):
    me = _api(hub, BOB).whoami()
    assert (me["type"], me["name"], me["orgs"], me["auth"]["accessToken"]["role"]) == ("user", "bob", [], "write")
    with pytest.raises(HfHubHTTPError) as e:
        _api(hub, "hf_nobody").whoami()
    assert e.value.response.status_code == 401


def test_a_user_writes_in_their_namespace_and_opens_pull_requests_elsewhere(hub):
    alice, bob = _api(hub, ALICE), _api(hub, BOB)
    with pytest.raises(HfHubHTTPError) as e:
        alice.create_repo("bob/model")
    assert e.value.response.status_code == 403 and 'under the namespace "bob"' in str(e.value)
    alice.create_repo("alice/model")
    alice.upload_file(path_or_fileobj=b"a\n", path_in_repo="a.txt", repo_id="alice/model")
    with pytest.raises(HfHubHTTPError) as e:
        bob.upload_file(path_or_fileobj=b"b\n", path_in_repo="b.txt", repo_id="alice/model")
    assert e.value.response.status_code == 403 and "pass `create_pr=1`" in str(e.value)
    pr = bob.upload_file(path_or_fileobj=b"b\n", path_in_repo="b.txt", repo_id="alice/model", create_pr=True)
    assert pr.pr_url == f"{hub.endpoint}/alice/model/discussions/1" and pr.pr_revision == "refs/pr/1"
    assert (hub.commits[-1].ref, hub.commits[-1].author) == ("refs/pr/1", "bob")
    assert "b.txt" not in hub.files("alice/model") and hub.files("alice/model", "refs/pr/1")["b.txt"] == b"b\n"


def test_an_identical_upload_makes_no_commit_and_a_snapshot_has_every_subfolder(hub, folder, tmp_path):
    alice = _api(hub, ALICE)
    alice.create_repo("alice/model")
    first = alice.upload_folder(repo_id="alice/model", folder_path=folder)
    again = alice.upload_folder(repo_id="alice/model", folder_path=folder)  # preupload's oids match: nothing sent
    assert len(hub.commits) == 1 and again.oid == first.oid
    assert sum("/commit/" in r.path for r in hub.requests) == 1
    (folder / "config.json").write_text('{"model_type": "deit"}\n')
    alice.upload_folder(repo_id="alice/model", folder_path=folder)
    assert set(hub.commits[-1].files) == {"config.json"}, "only the changed file"

    snap = Path(snapshot_download("alice/model", endpoint=hub.endpoint, cache_dir=tmp_path / "cache"))
    got = {p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file()}
    assert got == {".gitattributes", "config.json", "onnx/model.onnx", "openvino/openvino_model.xml",
                   "openvino/openvino_model.bin"}
    onnx = (folder / "onnx" / "model.onnx").read_bytes()
    blobs = tmp_path / "cache" / "models--alice--model" / "blobs"
    assert (blobs / hashlib.sha256(onnx).hexdigest()).read_bytes() == onnx, "an LFS file's blob is its sha256"
    tree = {f.path for f in alice.list_repo_tree("alice/model", path_in_repo="openvino")}
    assert tree == {"openvino/openvino_model.xml", "openvino/openvino_model.bin"}


def test_private_and_gated_repos_refuse_others(hub, tmp_path):
    hub.add_files("alice/private", {"config.json": b"{}"}, private=True)
    hub.add_files("alice/gated", {"config.json": b"{}"}, gated=True)
    for token in (None, BOB):
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download("alice/private", "config.json", endpoint=hub.endpoint, token=token,
                            cache_dir=tmp_path / "c")
        with pytest.raises(GatedRepoError):
            hf_hub_download("alice/gated", "config.json", endpoint=hub.endpoint, token=token, cache_dir=tmp_path / "c")
    assert open(hf_hub_download("alice/private", "config.json", endpoint=hub.endpoint, token=ALICE,
                                cache_dir=tmp_path / "c"), "rb").read() == b"{}"


def test_faults_answer_with_retry_after_or_drop_the_connection(hub):
    hub.fail(r"/api/whoami-v2", 503, retry_after=7)
    with pytest.raises(HfHubHTTPError) as e:
        _api(hub, ALICE).whoami()
    assert e.value.response.status_code == 503 and e.value.response.headers["Retry-After"] == "7"
    hub.drop(r"/api/whoami-v2")
    with pytest.raises(httpx2.TransportError):
        _api(hub, ALICE).whoami()
    assert _api(hub, ALICE).whoami()["name"] == "alice" and hub.failures == []
    auth = [r.headers.get("authorization") for r in hub.requests]
    assert auth == [f"Bearer {ALICE}"] * 3 and all(ALICE not in r.path for r in hub.requests)


def test_the_openid_provider_signs_in_the_configured_user(hub):
    hub.oauth_user = "bob"
    meta = httpx.get(f"{hub.endpoint}/.well-known/openid-configuration").json()
    assert meta["issuer"] == hub.endpoint and meta["id_token_signing_alg_values_supported"] == ["RS256"]
    back = "http://127.0.0.1:1/login/callback?_target_url=%2F"
    query = {"client_id": hub.oauth_client_id, "response_type": "code", "redirect_uri": back,
             "scope": "openid profile", "state": "s1", "nonce": "n1"}
    r = httpx.get(f"{meta['authorization_endpoint']}?{urlencode(query)}")
    assert r.status_code == 302 and r.headers["location"].startswith(back + "&")
    params = parse_qs(urlsplit(r.headers["location"]).query)
    assert params["state"] == ["s1"]
    basic = base64.b64encode(f"{hub.oauth_client_id}:{hub.oauth_client_secret}".encode()).decode()
    form = {"grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": back}
    token = httpx.post(meta["token_endpoint"], data=form, headers={"Authorization": f"Basic {basic}"}).json()
    assert token["access_token"] == BOB and token["token_type"] == "bearer" and token["scope"] == "openid profile"
    assert httpx.post(meta["token_endpoint"], data=form, headers={"Authorization": f"Basic {basic}"}).status_code \
        == 400, "a code is used once"
    json_web_key, jwt = jose()
    claims = jwt.decode(token["id_token"], json_web_key.import_key_set(httpx.get(meta["jwks_uri"]).json()))
    claims.validate()
    assert (claims["iss"], claims["aud"], claims["nonce"], claims["preferred_username"]) == \
        (hub.endpoint, hub.oauth_client_id, "n1", "bob")
    info = httpx.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {BOB}"}).json()
    assert info["preferred_username"] == "bob" and info["picture"].endswith("/avatars/bob.svg")

"""Publishing from the page, as on a Space with `hf_oauth: true`: `python app.py` with the environment the Spaces
runtime sets, against the fake Hub (support.fakehub), which is both the Hub and its OpenID provider.

A visitor's token reaches the publish handler the two ways Gradio passes a `gr.OAuthToken`: from their signed-in
session (the browser test signs in through Gradio's real OAuth flow) and from the API call's `oauth_token`
(gradio_client's `Client(oauth_token=...)`). Each test checks that the token shows up in no answer, page, log line
or file.
"""
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from huggingface_hub import ModelCard, constants
from support import EXAMPLES, ROOT
from support.browser import browser_page, no_bare_error, screenshot_on_failure, type_model
from support.fakehub import SCOPES, FakeHub, space_env
from support.hubcache import FLOWERS, save_user_model
from support.launch import fresh_home, remove, running_app
from support.loaders import ORTDouble, OVDouble

from vitspace.export import VARIANTS, get_variant

pytestmark = pytest.mark.slow

ALICE, BOB = "hf_alicePublishToken0123456789abcdef", "hf_bobPublishToken0123456789abcdefgh"
MODEL = "someone/deit-flowers-teacher"          # a transformers DeiT (with its teacher head) typed in by the visitor
FILES = ["model.onnx", "model-int8.xml"]        # what Optimum's ONNX Runtime and OpenVINO classes load
REPO = "alice/deit-flowers-teacher-vitspace"    # the default: <user>/<model>-vitspace
OTHERS = "bob/flowers"                          # bob's: alice may only open a pull request


@pytest.fixture(scope="module")
def space():
    root = fresh_home("publish")
    home = root / "home"
    home.mkdir()
    try:
        with FakeHub(users={ALICE: "alice", BOB: "bob"}, oauth_user="alice") as hub:
            hub.add_folder(MODEL, save_user_model(MODEL, root / "served"))
            hub.add_files(OTHERS, {"README.md": b"# bob's flowers\n"})
            with running_app(home, HF_HUB_CACHE=str(root / "hf-cache"), HF_HUB_DISABLE_XET="1",
                             **space_env(hub)) as (url, log, _):
                yield SimpleNamespace(url=url, log=log, hub=hub, root=root, served=root / "served")
    finally:
        remove(root)


def _client(space, token: str | None = ALICE) -> Client:
    """A visitor's session with a build of MODEL (FILES), as the Compress tab makes it."""
    client = Client(space.url, oauth_token=token, verbose=False)
    client.predict(MODEL, FILES, "auto", False, api_name="/compress")
    return client


def _publish(client: Client, repo: str = "", *, pr: bool = False) -> str:
    return client.predict(repo, False, FILES, pr, api_name="/publish")


def _refused(client: Client, repo: str = "") -> str:
    with pytest.raises(AppError) as e:
        _publish(client, repo)
    return str(e.value)


def _assert_no_token(space, *texts: str) -> None:
    """Neither visitor's token in the answers, the app's log, the files under its HOME (builds, staged trees) or what
    reached the Hub."""
    for token in (ALICE, BOB):
        for text in texts:
            assert token not in text
        assert token not in space.log.read_text()
        for path in space.root.rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                assert token.encode() not in path.read_bytes(), path
        for commit in space.hub.commits:
            assert all(token.encode() not in data for data in commit.files.values())


def test_the_readme_asks_the_space_for_the_scopes_publishing_needs():
    data = ModelCard.load(ROOT / "README.md").data
    assert data.hf_oauth is True
    assert {"write-repos", "manage-repos", "write-discussions"} <= set(data.hf_oauth_scopes) <= set(SCOPES.split())


def test_a_visitor_publishes_a_build_into_their_account_then_nothing_changes(space):
    client = _client(space)
    before = len(space.hub.commits)
    first = _publish(client)
    assert "Published" in first and REPO in first and f"{space.hub.endpoint}/{REPO}" in first, first
    assert len(space.hub.commits) == before + 1 and space.hub.commits[-1].repo_id == REPO
    pushed = space.hub.files(REPO)
    assert "README.md" in pushed and any(p.endswith(".onnx") for p in pushed) and any(
        p.endswith(".xml") for p in pushed), sorted(pushed)
    card = ModelCard(pushed["README.md"].decode())
    assert card.data.base_model == MODEL and card.data.base_model_relation == "quantized"
    again = _publish(client)
    assert "nothing changed" in again and len(space.hub.commits) == before + 1, again
    _assert_no_token(space, first, again)


def test_a_repository_the_visitor_cannot_write_gets_a_pull_request(space):
    answer = _publish(_client(space), OTHERS)
    assert "pull request" in answer and f"{OTHERS}/discussions/" in answer, answer
    assert space.hub.commits[-1].ref.startswith("refs/pr/")
    assert set(space.hub.files(OTHERS)) <= {".gitattributes", "README.md"}  # main untouched: bob's README only
    _assert_no_token(space, answer)


def test_refusals_are_sentences_without_the_token(space):
    client = _client(space)
    messages = [_refused(Client(space.url, oauth_token=ALICE, verbose=False), REPO)]  # signed in, nothing built
    messages.append(_refused(_client(space, None)))
    messages.append(_refused(client, "carol/new-repo"))             # no such repo, and not hers to create
    messages.append(_refused(_client(space, "hf_revokedToken0123456789abcdefghij")))
    assert "Build files in the Compress tab first" in messages[0]
    assert "Sign in with Hugging Face first" in messages[1]
    assert "cannot create it in carol" in messages[2]
    assert "rejected your sign-in token" in messages[3]
    _assert_no_token(space, *messages)


@pytest.mark.parametrize("fault, expected", [
    (("fail", r"/commit/", 500, 10), "HTTP 500"),
    (("fail", r"/preupload/", 403, 1), "no permission to write"),
], ids=["5xx", "403"])  # every kind, a dropped connection too, in tests/card/test_publish.py
def test_hub_failures_are_sentences_and_the_next_try_works(space, fault, expected):
    client = _client(space)
    repo = f"alice/after-a-{fault[2]}"
    getattr(space.hub, fault[0])(*fault[1:])
    message = _refused(client, repo)
    assert expected in message, message
    space.hub.failures.clear()
    assert "Published" in _publish(client, repo)
    _assert_no_token(space, message)


def test_a_rate_limit_is_waited_out(space):
    client = _client(space)
    space.hub.fail(r"/commit/", 429, 1, retry_after=1)
    answer = _publish(client, "alice/after-a-429")
    assert "Published" in answer, answer
    commits = [r for r in space.hub.requests if "/commit/" in r[1] and "after-a-429" in r[1]]
    assert len(commits) == 2  # refused once, then sent again


def test_run_locally_the_page_publishes_with_the_token_it_was_started_with(space):
    """No Space, no sign-in: `HF_TOKEN=... python app.py` publishes as that token's user, and no endpoint takes a
    visitor's token."""
    home = space.root / "local-home"
    home.mkdir()
    env = {"HF_ENDPOINT": space.hub.endpoint, "HF_HUB_OFFLINE": "0", "HF_TOKEN": BOB,
           "HF_HUB_CACHE": str(space.root / "hf-cache"), "HF_HUB_DISABLE_XET": "1"}
    with running_app(home, **env) as (url, log, _):
        client = Client(url, verbose=False)
        assert "oauth_token" not in str(client.view_api(print_info=False, return_format="dict"))
        client.predict(MODEL, FILES, "auto", False, api_name="/compress")
        answer = client.predict("", False, FILES, False, api_name="/publish")
        config = Client(url, verbose=False).view_api(print_info=False, return_format="str")
    assert "Published" in answer and "bob/deit-flowers-teacher-vitspace" in answer, answer
    assert BOB not in log.read_text() + answer + str(config)


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:__array__ implementation")  # np.array(a torch tensor), as optimum-intel does
def test_a_visitor_signs_in_builds_and_publishes_from_the_page(space, tmp_path, monkeypatch):
    """The walk a Space visitor makes: Sign in with Hugging Face, a Hub model typed into Compress, two files built,
    the card rendered, Publish; the link shown, the files on the Hub, loadable by Optimum."""
    with browser_page() as page, screenshot_on_failure(page, tmp_path / "publish.png"):
        page.goto(space.url, timeout=90_000)
        page.get_by_role("button", name="Sign in with Hugging Face").click()
        page.get_by_role("button", name="Logout (alice)").wait_for(timeout=60_000)
        page.get_by_role("tab", name="Compress").click()
        type_model(page, "compress-model", MODEL)
        for name in VARIANTS:  # the Compress tab's boxes come before the Benchmark tab's
            box = page.get_by_label(name, exact=True).first
            box.check() if name in FILES else box.uncheck()
        page.get_by_role("button", name="Build").click()
        page.locator("#compress-about").get_by_text(MODEL).first.wait_for(timeout=300_000)
        page.get_by_role("tab", name="Model card").click()
        page.get_by_role("button", name="Render the card of the last build").click()
        page.locator("#card-preview").get_by_text("model.onnx").first.wait_for(timeout=60_000)
        repo = page.locator("#publish-repo textarea, #publish-repo input").first
        page.wait_for_function("([e, v]) => e.value === v", arg=[repo.element_handle(), REPO], timeout=30_000)
        for name in FILES:  # ticked where it passed the fidelity gate; random weights may fail it, published anyway
            page.locator("#publish-files").get_by_label(name, exact=True).check()
        page.locator("#publish").click()
        link = page.locator("#publish-result a").first
        link.wait_for(timeout=120_000)
        assert REPO in page.locator("#publish-result").inner_text()
        assert link.get_attribute("href").startswith(f"{space.hub.endpoint}/{REPO}")
        no_bare_error(page)
        html = page.content()
    assert REPO in {c.repo_id for c in space.hub.commits}
    _assert_no_token(space, html)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # this test process is offline but to the fake Hub
    _check_loads_with_optimum(space, tmp_path)


def _check_loads_with_optimum(space, tmp_path: Path) -> None:
    """The pushed repository, downloaded back, opens with Optimum's ONNX Runtime and OpenVINO classes (as
    support.loaders keeps their rules) as the card shows them, and answers as the fp32 model on the examples."""
    from huggingface_hub import snapshot_download

    import vitspace as vs
    folder = Path(snapshot_download(REPO, endpoint=space.hub.endpoint, cache_dir=tmp_path / "dl"))
    classifier = vs.get_classifier(str(space.served))  # the same weights, from the folder the Hub serves
    images = [vs.load_image(p) for p in sorted(EXAMPLES.glob("*.jpg"))]
    expected = classifier.logits(images).argmax(-1).tolist()
    pixels = classifier.preprocess(images)
    onnx = ORTDouble.from_pretrained(folder, subfolder="onnx")
    assert onnx.config.num_labels == len(FLOWERS) and onnx(pixel_values=pixels).logits.argmax(-1).tolist() == expected
    # int8 of random weights need not agree with fp32: the IR answers in Optimum's class as in vitspace's runner
    ir = OVDouble.from_pretrained(folder, file_name="openvino/model-int8.xml")
    own = get_variant("model-int8.xml").load(folder / "openvino" / "model-int8.xml")
    assert ir(pixel_values=pixels).logits.argmax(-1).tolist() == own(pixels).argmax(-1).tolist()

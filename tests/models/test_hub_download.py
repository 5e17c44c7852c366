"""Online, a typed Hub id is fetched once (config first, weights when loaded) and then runs from the cache; each
way a Hub can say no gets its own sentence. Against a fake Hub on 127.0.0.1, as HF_ENDPOINT would point to."""
import pytest
from support import EXAMPLES
from support.fakehub import FakeHub
from support.hubcache import PETS, save_user_model

import vitspace as vs
from vitspace.classify import classifier as clf_mod
from vitspace.models import hub as vs_hub
from vitspace.models import resolve as resolve_mod
from vitspace.models.resolve import resolve

REPO = "someone/vit-pets-384"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The fake Hub, online, with an empty cache; nothing resolved or loaded before."""
    from huggingface_hub import constants
    with FakeHub(require_token=False) as server:
        server.add_folder(REPO, save_user_model(REPO, tmp_path / "repo"))
        server.reach_in_process(monkeypatch)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
        monkeypatch.setattr(vs_hub, "_probe", None)
        monkeypatch.setattr(resolve_mod, "_resolved", type(resolve_mod._resolved)())
        monkeypatch.setattr(clf_mod, "_loaded", type(clf_mod._loaded)())
        yield server


def _fetched(server: FakeHub) -> list[str]:
    return [path.rsplit("/", 1)[-1] for method, path, _ in server.requests if method == "GET"]


def test_resolving_fetches_the_config_and_loading_the_weights_once(hub):
    spec = resolve(REPO)
    assert list(spec.labels) == list(PETS.values()) and spec.input_size == 384
    assert "model.safetensors" not in _fetched(hub)  # resolving reads no weights
    clf = vs.get_classifier(REPO)
    assert clf.origin == "hub" and clf.predict(EXAMPLES / "cat.jpg").label in PETS.values()
    assert _fetched(hub).count("model.safetensors") == 1
    assert vs.model_info(REPO).origin == "cache"  # downloaded once, then from the cache


@pytest.mark.parametrize("kind, sentence", [
    ("absent", "no such model on the Hub. Check the spelling; if it is private, set HF_TOKEN"),
    ("private", "no such model on the Hub. Check the spelling; if it is private, set HF_TOKEN"),
    ("gated", "is gated: accept its conditions at"),
])
def test_each_refusal_of_the_hub_has_its_sentence(hub, kind, sentence):
    if kind != "absent":  # asked for without a token: 401 RepoNotFound, 401 GatedRepo, as the Hub answers
        hub.add_files("someone/closed", hub.files(REPO), private=kind == "private", gated=kind == "gated")
    with pytest.raises(vs.VitspaceError, match=sentence) as e:
        vs.get_classifier("someone/closed")
    assert "Traceback" not in str(e.value) and "\n" not in str(e.value)


def test_an_unknown_revision_and_a_repository_without_a_config(hub):
    with pytest.raises(vs.UnknownModelError, match="has no revision 'v9'"):
        resolve(f"{REPO}@v9")
    hub.add_files("someone/just-files", {"weights.bin": b"0"})
    with pytest.raises(vs.UnsupportedModelError, match="has no config.json: not a transformers or timm model"):
        resolve("someone/just-files")


def test_a_repository_without_weights_says_so_once_its_config_is_read(hub):
    hub.add_files("someone/config-only", {"config.json": hub.files(REPO)["config.json"]})
    spec = resolve("someone/config-only")
    assert spec.family == "vit"
    with pytest.raises(vs.WeightsUnavailableError, match="the repository has no weights"):
        vs.get_classifier("someone/config-only")

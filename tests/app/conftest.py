"""What the app's tests share beyond tests/conftest.py: the app launched with users' own models, in its Hub cache
or on a fake Hub it downloads them from."""
import pytest
from support.fakehub import FakeHub
from support.hubcache import build_user_cache, save_user_model
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


PETS_VIT = "someone/vit-pets-384"


@pytest.fixture(scope="module")
def online_app():
    """The url of `python app.py` with an empty Hugging Face cache, online to a fake Hub on this machine
    (support.fakehub) that holds support.hubcache's users' models: the app downloads each model it is given,
    weights sent slowly, over about 2 s, as a download is."""
    root = fresh_home("online")
    home = root / "home"
    home.mkdir()
    try:
        with FakeHub(require_token=False, download_seconds=2.0) as hub:
            hub.add_folder(PETS_VIT, save_user_model(PETS_VIT, root / "served"))
            with running_app(home, HF_HUB_OFFLINE="0", HF_ENDPOINT=hub.endpoint,
                             HF_HUB_CACHE=str(root / "empty-cache"), HF_HUB_DISABLE_XET="1") as (url, _, _):
                yield url
    finally:
        remove(root)

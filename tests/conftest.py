import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

# In-process tests see none of the machine's caches: fresh Hub, vitspace and compile caches, set before any import
_CACHES = tempfile.mkdtemp(prefix="vitspace-test-caches-")
atexit.register(shutil.rmtree, _CACHES, ignore_errors=True)  # up to 40 MB a run: never left behind
for _var, _sub in {"HF_HOME": "hf", "HF_HUB_CACHE": "hf/hub", "VITSPACE_CACHE": "vitspace",
                   "TORCHINDUCTOR_CACHE_DIR": "inductor"}.items():
    os.environ[_var] = os.path.join(_CACHES, _sub)
os.environ.pop("VITSPACE_BUILDS", None)
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach the network

import pytest  # noqa: E402
from support.launch import fresh_home, remove, running_app  # noqa: E402


@dataclass
class App:
    url: str
    home: Path
    log: Path


@pytest.fixture(scope="session")
def app():
    """`python app.py` launched from the repository as the README says, with a user's fresh HOME."""
    home = fresh_home()
    with running_app(home) as (url, log, _):
        yield App(url, home, log)
    remove(home, log)


@pytest.fixture(scope="session")
def app_url(app):
    return app.url


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """A tiny architecture-only compress build: one int8 .ptl of deit-tiny-cifar10 (3 MB), fidelity on 2 images."""
    import torch

    from vitspace.classify.classifier import get_classifier
    from vitspace.compress.build import CompressConfig, compress
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine: one thread is faster than two that wait on each other
    out = tmp_path_factory.mktemp("build")
    try:
        config = CompressConfig("deit-tiny-cifar10", out, files=("int8-mobile.ptl",), limit=2, pretrained=False)
        compress(get_classifier("deit-tiny-cifar10", False), config)
    finally:
        torch.set_num_threads(threads)
    return out


_LAUNCHES_THE_APP = {"app", "app_url"}


def pytest_collection_modifyitems(config, items):
    """The fast tier (`-m "not slow"`) launches no app: a test that uses the running app is slow by definition."""
    for item in items:
        if _LAUNCHES_THE_APP & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def user_models():
    """Users' own models (support.hubcache.USER_MODELS and REFUSED) in the tests' Hugging Face cache, as the Hub
    would have left them there: the real cache layout, real configs, random weights."""
    from support.hubcache import USER_MODELS, build_user_cache
    build_user_cache(Path(os.environ["HF_HUB_CACHE"]))
    return tuple(USER_MODELS)

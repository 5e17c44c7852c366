"""The Hugging Face Hub: whether it answers, and its files, from the local cache or downloaded.

Fails fast: a file that is not cached is fetched only when the Hub answers a 2-second probe, so an
offline machine gets a clear sentence at once instead of minutes of retries.
"""
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from ..errors import UnknownModelError, UnsupportedModelError, WeightsUnavailableError

__all__ = ["hub_reachable", "hub_file", "cached_file", "offline_reason"]

_probe_lock = threading.Lock()
_probe: tuple[float, bool] | None = None


def hub_reachable(timeout: float = 2.0, ttl: float = 60.0) -> bool:
    """Whether the Hub endpoint accepts a TCP connection; remembered for `ttl` seconds."""
    global _probe
    from huggingface_hub import constants
    if constants.HF_HUB_OFFLINE:
        return False
    with _probe_lock:
        if _probe and time.monotonic() - _probe[0] < ttl:
            return _probe[1]
        url = urlparse(constants.ENDPOINT)
        try:
            socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                     timeout=timeout).close()
            ok = True
        except OSError:
            ok = False
        _probe = (time.monotonic(), ok)
        return ok


def offline_reason() -> str:
    """Why the Hub cannot be asked, in words."""
    from huggingface_hub import constants
    return "HF_HUB_OFFLINE=1 is set" if constants.HF_HUB_OFFLINE else f"{constants.ENDPOINT} is unreachable"


def hub_file(repo_id: str, filename: str, revision: str | None = None, required: bool = True) -> Path | None:
    """A file of a Hub repository: from the local cache, or downloaded when the Hub answers.

    Args:
        repo_id: the repository.
        filename: the file in it.
        revision: a branch, tag or commit; None: main.
        required: False: a file the repository may lack (None then).

    Raises:
        UnknownModelError: no such repository (or a private one without a token), or no such revision.
        WeightsUnavailableError: not cached while the Hub cannot be reached, or the repository is gated.
        UnsupportedModelError: a required file the repository does not have.
    """
    from huggingface_hub import constants, errors, hf_hub_download

    online = hub_reachable()
    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision, local_files_only=not online))
    except errors.GatedRepoError:
        raise WeightsUnavailableError(
            f"{where} is gated: accept its conditions at {constants.ENDPOINT}/{repo_id} with your account, then "
            "set HF_TOKEN (or run `hf auth login`)") from None
    except errors.RepositoryNotFoundError:
        raise UnknownModelError(
            f"{where}: no such model on the Hub. Check the spelling; if it is private, set HF_TOKEN to a token "
            "that can read it (or run `hf auth login`)") from None
    except errors.RevisionNotFoundError:
        raise UnknownModelError(f"{repo_id} has no revision {revision!r} (a branch, tag or commit)") from None
    except errors.RemoteEntryNotFoundError:
        if not required:
            return None
        raise UnsupportedModelError(f"{where} has no {filename}: not a transformers or timm model") from None
    except errors.LocalEntryNotFoundError:
        if not required and online:
            return None
        if not required and cached_file(repo_id, "config.json", revision):
            return None  # the config is here, this optional file is not: we cannot ask the Hub
        raise WeightsUnavailableError(
            f"{where} is not in the local cache ({constants.HF_HUB_CACHE}) and {offline_reason()}. Download it "
            f"once where the Hub is reachable (`hf download {repo_id}`) and copy that cache here or point "
            "HF_HUB_CACHE at it, or save the model to a folder and give its path.") from None
    except (errors.HfHubHTTPError, OSError) as e:
        raise WeightsUnavailableError(f"{where}: the Hub could not be reached ({type(e).__name__}); "
                                      "try again, or give a folder with the model") from None


def cached_file(repo_id: str, filename: str, revision: str | None = None) -> Path | None:
    """A Hub repository's file in the local cache, or None; asks nothing of the Hub."""
    from huggingface_hub import try_to_load_from_cache
    found = try_to_load_from_cache(repo_id, filename, revision=revision)
    return Path(found) if isinstance(found, str) else None

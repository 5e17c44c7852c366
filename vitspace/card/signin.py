"""Publishing from the page: who may, with which token, into which repository.

On a Space with "Sign in with Hugging Face" (the README's front matter: `hf_oauth: true`), each visitor publishes
with the token their sign-in gave to that one request, into their own namespace, an organization of theirs, or as a
pull request on a repository they cannot write. Run anywhere else, the page publishes with the token of whoever
started the app (HF_TOKEN, or `hf auth login`); on a Space without sign-in it does not publish at all, since a token
in a Space's environment is its owner's, not the visitor's. The page never asks for a token.

The token is an argument of each call here and of `hub.publish`; nothing keeps it, and every message is scrubbed
of it.
"""
import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError

from ..compress.manifest import read_manifest
from ..errors import PublishError
from .hub import PublishConfig, PublishResult, publish

__all__ = ["PageAccess", "page_access", "default_repo_id", "Account", "account", "publish_from_page",
           "result_markdown", "local_token", "local_user", "built_files", "COMMAND"]

COMMAND = "python -m vitspace.card.publish --model MODEL --repo-id YOU/NAME"
SUFFIX = "-vitspace"


@dataclass(frozen=True)
class PageAccess:
    """How this page publishes: "signin" (each visitor signs in), "local" (with the token this app was started
    with) or "none" (it does not; `message` says how to)."""
    mode: str
    message: str


def _on_space() -> bool:
    return os.environ.get("SYSTEM") == "spaces" and bool(os.environ.get("SPACE_ID"))


def page_access() -> PageAccess:
    """How the page publishes here, from the environment Gradio and the Spaces runtime set.

    Returns:
        "signin" on a Space whose OAuth is on (the Spaces runtime sets OAUTH_CLIENT_ID for `hf_oauth: true`);
        "none" on a Space without it; elsewhere "local" where a token is set, else "none".
    """
    if _on_space():
        if os.environ.get("OAUTH_CLIENT_ID"):
            return PageAccess("signin", "Sign in with Hugging Face to publish the last build to your account, "
                                        "or as a pull request on a repository you cannot write to.")
        return PageAccess("none", "Publishing from this Space needs Sign in with Hugging Face: its owner turns it "
                                  "on with `hf_oauth: true` in the Space's README. Or download the files and run "
                                  f"`{COMMAND}` with HF_TOKEN set.")
    if _local_token():
        return PageAccess("local", "Publishing with the Hugging Face token this app was started with "
                                   "(HF_TOKEN, or `hf auth login`).")
    return PageAccess("none", "To publish from this page, start the app with HF_TOKEN set to a token with write "
                              f"access (https://huggingface.co/settings/tokens), or run `{COMMAND}`.")


def _local_token() -> str | None:
    return os.environ.get("HF_TOKEN") or get_token()


def local_token() -> str:
    """The token of whoever started the app, for the "local" page.

    Raises:
        PublishError: there is none.
    """
    token = _local_token()
    if not token:
        raise PublishError(page_access().message)
    return token


@functools.cache
def local_user() -> str | None:
    """The user of the token this app was started with, asked once; None where there is none or the Hub cannot
    say (the publish itself then explains)."""
    try:
        return account(local_token()).user
    except PublishError:
        return None


def built_files(build: Path) -> tuple[list[str], list[str]]:
    """(the files of a build that were built, those of them that passed the fidelity gate): what can be
    published, and what is ticked by default."""
    manifest = read_manifest(build)
    return [f.file for f in manifest.files if f.status == "ok"], [f.file for f in manifest.passing()]


def default_repo_id(user: str, model: str) -> str:
    """`<user>/<model>-vitspace`: the model's own name (a Hub id's name, a folder's name), in the characters and
    length the Hub accepts."""
    name = model.split("@")[0].rstrip("/").split("/")[-1]
    name = re.sub(r"[^\w.-]+", "-", name).strip(".-") or "model"
    return f"{user}/{name[:96 - len(SUFFIX)]}{SUFFIX}"


@dataclass(frozen=True)
class Account:
    """Who a token belongs to: the user and the organizations they may write to."""
    user: str
    orgs: tuple[str, ...]

    def can_write(self, repo_id: str) -> bool:
        return repo_id.split("/")[0] in (self.user, *self.orgs)


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "hf_***") if token else text


def account(token: str, endpoint: str | None = None) -> Account:
    """Who the token belongs to (the Hub's whoami).

    Raises:
        PublishError: the Hub rejects the token or cannot be reached; the message never holds the token.
    """
    try:
        info = HfApi(endpoint=endpoint).whoami(token=token)
    except HfHubHTTPError as e:
        status = getattr(e.response, "status_code", None)
        if status == 401:
            raise PublishError("the Hub rejected your sign-in token (401): sign out, sign in again, and "
                               "retry.") from None
        raise PublishError(_scrub(f"the Hub could not say who you are (HTTP {status}); try again later.",
                                  token)) from None
    except Exception as e:  # network down, DNS, offline mode
        raise PublishError(_scrub(f"cannot reach the Hugging Face Hub to publish ({type(e).__name__}: {e}); "
                                  "check the network connection and try again.", token)) from None
    orgs = tuple(o["name"] for o in info.get("orgs") or [] if o.get("name"))
    return Account(info["name"], orgs)


def _target(api: HfApi, repo_id: str, who: Account, want_pr: bool) -> bool:
    """Whether to open a pull request: asked for, or the repository exists and the user cannot write to it.

    Raises:
        PublishError: the repository does not exist and the user cannot create it there.
    """
    if who.can_write(repo_id):
        return want_pr
    if api.repo_exists(repo_id):
        return True
    raise PublishError(f"{repo_id} does not exist and you cannot create it in {repo_id.split('/')[0]}: use "
                       f"{who.user}/NAME, or an organization you belong to.")


def publish_from_page(model: str, build: Path, repo_id: str, *, token: str, private: bool = False,
                      files: tuple[str, ...] | None = None, want_pr: bool = False,
                      progress: Callable[[str], None] | None = None) -> PublishResult:
    """Publish a build of the page with the visitor's (or the local) token: their namespace by default, a pull
    request where they cannot write.

    Args:
        model: the build's model (registry name, Hub id or folder).
        build: its build folder.
        repo_id: NAMESPACE/NAME; empty: `<user>/<model>-vitspace`.
        token: the token of this request only.
        private: create a new repository private.
        files: the built files to include; None: all.
        want_pr: open a pull request even where the user may write.
        progress: progress messages.

    Returns:
        What was committed, and the link to the commit or the pull request.

    Raises:
        PublishError: in one sentence, without the token.
    """
    who = account(token)
    repo_id = (repo_id or "").strip() or default_repo_id(who.user, model)
    api = HfApi(token=token)
    try:
        create_pr = _target(api, repo_id, who, want_pr)
    except HfHubHTTPError as e:
        raise PublishError(_scrub(f"the Hub could not say whether {repo_id} exists (HTTP "
                                  f"{getattr(e.response, 'status_code', None)}); try again later.", token)) from None
    cfg = PublishConfig(model, repo_id, artifacts=Path(build), private=private, create_pr=create_pr, files=files)
    return publish(cfg, token=token, progress=progress)


def result_markdown(result: PublishResult) -> str:
    """The outcome in a sentence with its link."""
    if result.pr_url:
        return f"Opened a pull request on **{result.repo_id}** with {len(result.uploaded)} files: {result.pr_url}"
    if result.uploaded:
        return (f"Published {len(result.uploaded)} files to **{result.repo_id}**: {result.commit_url} "
                f"(the repository: {result.repo_url})")
    return f"**{result.repo_id}** already holds these files: nothing changed, no commit made. {result.repo_url}"

"""Publishing a build to the Hugging Face Hub, the library behind `python -m vitspace.card.publish`.

Save locally, then push: `build_tree` gathers the repository's files in the layout `layout` describes (README.md,
the card; config.json and preprocessor_config.json, which Optimum's classes read; the built files, ONNX in onnx/
and OpenVINO in openvino/; vitspace.json, vitspace's own account of them; manifest.json; the marker .vitspace.json)
and `write_tree` stages them in a folder. `publish` then commits the tree in one commit, keeping a README.md edited
on the Hub since vitspace pushed it (unless `PublishConfig.overwrite_card`), and turns every failure into a
`PublishError` that says what to do, without the token.

huggingface_hub does the rest: `create_commit` checks the card's metadata with the Hub (its /api/validate-yaml)
before any upload and leaves out the files the Hub already holds, so a second run with nothing changed makes no
commit; `hf_hub_download` reads the marker at the endpoint in use; `git_hash` is the oid the Hub gives a file.
What stays here: keeping a hand-edited README.md (the marker), and retries of the whole push, which is safe to
repeat: HfApi retries only its preupload call (`http_backoff`, which honours Retry-After), while creating the
repository, the branch, listing paths and the commit itself are single requests.
"""
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2  # huggingface_hub's HTTP client (a dependency of it): its network errors are retried
from huggingface_hub import CommitOperationAdd, HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import validate_repo_id
from huggingface_hub.utils.sha import git_hash

from ..classify.classifier import get_classifier
from ..compress.build import CompressConfig, compress, compress_cached
from ..compress.manifest import MANIFEST, Manifest, read_manifest
from ..errors import PublishError
from ..export import files_of
from ..models.registry import ModelSpec
from ..models.resolve import resolve
from ..util.hashing import file_digest
from ..util.paths import builds_root
from .build import build_card, card_images
from .context import published
from .hub_rules import validate_card
from .layout import loader_config, preprocessor_config, repo_path, vitspace_config
from .sources import eval_data_folder, public_name

__all__ = ["PublishConfig", "PublishResult", "PublishError", "PublishArgumentError", "publish", "ensure_artifacts",
           "build_tree", "write_tree", "resolve_token", "check_repo_id", "MARKER", "CARD",
           "CONFIG", "PREPROCESSOR", "VITSPACE"]

CARD = "README.md"
CONFIG = "config.json"                      # the source model's config, which the loaders read (layout)
PREPROCESSOR = "preprocessor_config.json"   # a transformers model's image processor
VITSPACE = "vitspace.json"                  # vitspace's account: labels, preprocessing in words, files, base model
MARKER = ".vitspace.json"                   # the git oid of the card vitspace last pushed
_RETRY_STATUS = (408, 429, 500, 502, 503, 504)


class PublishArgumentError(PublishError):
    """An argument no publish can succeed with (bad repo id, a dry-run folder that is not ours)."""


def _retry_delay_default() -> float:
    return float(os.environ.get("VITSPACE_HUB_RETRY_DELAY", "1.0"))


@dataclass(frozen=True)
class PublishConfig:
    """What to publish, where, and how hard to try."""
    model: str                              # registry name, Hub id or model folder
    repo_id: str                            # namespace/name on the Hub
    artifacts: Path | None = None           # a compress build; built when missing or without manifest.json
    benchmark: Path | None = None           # benchmark JSON for the card
    private: bool = False                   # for a new repository only; an existing one keeps its visibility
    revision: str | None = None             # branch to commit to, created if missing; None: main
    create_pr: bool = False                 # open a pull request instead of committing to the branch
    overwrite_card: bool = False            # replace a README.md edited on the Hub
    staging: Path | None = None             # where the tree is staged; None: ARTIFACTS/hub/<namespace>--<name>
    files: tuple[str, ...] | None = None    # the built files to publish, by their names in the build; None: all
    tries: int = 4                          # attempts at the push on 429, 5xx and network errors
    retry_delay: float = field(default_factory=_retry_delay_default)  # first backoff, doubled each retry


@dataclass
class PublishResult:
    """What `publish` staged and what it committed."""
    repo_id: str
    staged: Path                            # the tree, on disk
    files: list[str]                        # every path of the tree
    uploaded: list[str] = field(default_factory=list)   # paths in the commit; empty when nothing changed
    kept_card: bool = False                 # a README.md edited on the Hub was left as it is
    dry_run: bool = False
    commit_url: str | None = None
    pr_url: str | None = None
    repo_url: str | None = None             # the repository's page, after a push


# --- checks ---------------------------------------------------------------------------------------

def check_repo_id(repo_id: str) -> None:
    """Check a repository id before anything is built.

    Args:
        repo_id: NAMESPACE/NAME.

    Raises:
        PublishArgumentError: the id has no namespace, or the Hub would not accept it.
    """
    if repo_id.count("/") != 1:
        raise PublishArgumentError(f"invalid repo id {repo_id!r}: use NAMESPACE/NAME (your user or organization, "
                                   "then the repository), e.g. alice/deit-tiny-cifar10")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise PublishArgumentError(f"invalid repo id: {e}") from None


def resolve_token() -> str:
    """The token to push with: HF_TOKEN, else the token saved by `hf auth login`.

    Returns:
        The token.

    Raises:
        PublishError: there is neither; the message says how to get one.
    """
    token = get_token()  # HF_TOKEN first, then the saved token
    if not token:
        raise PublishError("no Hugging Face token: set HF_TOKEN to a token with write access "
                           "(https://huggingface.co/settings/tokens) or run `hf auth login`")
    return token


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "hf_***") if token else text


# --- the tree -------------------------------------------------------------------------------------

def _json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def build_tree(spec: ModelSpec, artifacts: Path, card_text: str,
               files: Iterable[str] | None = None) -> dict[str, bytes | Path]:
    """The repository's files, in the layout of `layout`: the card, the configs the loaders read, the built files
    with their companions, vitspace.json, manifest.json, the images the card shows and the marker.

    Args:
        spec: the model.
        artifacts: its compress build.
        card_text: the card.
        files: the built files to publish, by their names in the build; None: all that built.

    Returns:
        Path in the repository -> its bytes, or the local file holding them.

    Raises:
        PublishError: no file built, or a file is missing or differs from the manifest.
    """
    manifest = published(read_manifest(artifacts), files)
    built = [f for f in manifest.files if f.status == "ok"]
    if not built:
        raise PublishError(f"no file of {spec.name} built in {artifacts} (see {MANIFEST}): nothing to publish")
    tree: dict[str, bytes | Path] = {CARD: card_text.encode("utf-8"), CONFIG: _json_bytes(loader_config(spec))}
    if (processor := preprocessor_config(spec)) is not None:
        tree[PREPROCESSOR] = _json_bytes(processor)
    for f in built:
        path = artifacts / f.file
        if not path.is_file() or file_digest(path) != f.sha256:
            raise PublishError(f"{path} is missing or differs from {artifacts / MANIFEST}; rebuild it "
                               f"(python -m vitspace.compress --model {spec.name} --out {artifacts})")
        for name in files_of(f.file):  # with companion files
            tree[repo_path(name)] = artifacts / name
    tree[VITSPACE] = _json_bytes(vitspace_config(spec, manifest, [repo_path(f.file) for f in built]))
    tree[MANIFEST] = _public_manifest(spec, artifacts, manifest)
    tree.update(card_images(card_text))
    tree[MARKER] = _marker(git_hash(tree[CARD]))
    return tree


def _public_manifest(spec: ModelSpec, artifacts: Path, manifest: Manifest) -> bytes | Path:
    """manifest.json as published: without the local paths that say where the user keeps files (a local model's
    folder, an --eval-data folder: each by its name), and the files left out of the repository; the build's own
    file, byte for byte, where it has neither."""
    path = artifacts / MANIFEST
    data = json.loads(path.read_text())
    public = dict(data)
    kept = {f.file for f in manifest.files}
    public["files"] = [f for f in data["files"] if f["file"] in kept]
    if spec.source == "local":
        public["model"] = public_name(spec)
    folder = eval_data_folder((data.get("images") or {}).get("source"))
    if folder is not None:
        public["images"] = {**data["images"], "source": f"eval-data {folder}"}
    return path if public == data else json.dumps(public, indent=2).encode()


def _marker(card_oid: str | None) -> bytes:
    return _json_bytes({"generator": "vitspace", "card_oid": card_oid})


def write_tree(tree: dict[str, bytes | Path], dest: Path, *, protect: Path | None = None) -> Path:
    """The tree as files in DEST, nothing else there: DEST must be empty, new, or an earlier tree.

    Args:
        tree: as `build_tree` returns it.
        dest: the staging folder; an earlier tree there is replaced.
        protect: a folder DEST must not contain (the build itself).

    Returns:
        DEST.

    Raises:
        PublishArgumentError: DEST holds PROTECT, or other files than an earlier tree.
    """
    dest = Path(dest)
    if protect is not None and Path(protect).resolve().is_relative_to(dest.resolve()):
        raise PublishArgumentError(f"{dest} holds the build itself; stage the tree elsewhere")
    if dest.exists() and any(dest.iterdir()):
        if not (dest / MARKER).is_file():
            raise PublishArgumentError(f"{dest} is not empty and holds no earlier vitspace tree ({MARKER}); "
                                       "pick an empty or new folder")
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, content in tree.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, dest / name)
        else:
            (dest / name).write_bytes(content)
    return dest


# --- building what is missing ---------------------------------------------------------------------

def ensure_artifacts(model: str, artifacts: Path | None, say: Callable[[str], None]) -> Path:
    """A build folder with manifest.json: ARTIFACTS as given, or built there, or in the shared build cache.

    Args:
        model: registry name, Hub id or model folder.
        artifacts: a build folder, or None for the shared build cache (the app's).
        say: progress messages.

    Returns:
        The build folder.
    """
    if artifacts is not None and (Path(artifacts) / MANIFEST).is_file():
        return Path(artifacts)
    if artifacts is not None:
        say(f"{artifacts} has no {MANIFEST}: building {model} there")
        compress(get_classifier(model), CompressConfig(model, Path(artifacts)), progress=say)
        return Path(artifacts)
    root = builds_root()  # the app's build cache
    out, _ = compress_cached(CompressConfig(model, root), root, progress=say)
    return out


# --- the push -------------------------------------------------------------------------------------

def _status(e: BaseException) -> int | None:
    response = getattr(e, "response", None)
    return getattr(response, "status_code", None)


def _retry_wait(e: BaseException, attempt: int, delay: float) -> float | None:
    """Seconds to wait before trying again, or None when trying again cannot help."""
    if isinstance(e, OfflineModeIsEnabled):
        return None
    status = _status(e)
    if isinstance(e, HfHubHTTPError) and status in _RETRY_STATUS:
        wait = delay * 2 ** attempt
        retry_after = e.response.headers.get("Retry-After", "")
        return max(wait, min(float(retry_after), 60.0)) if retry_after.isdigit() else wait
    if isinstance(e, httpx2.TransportError):
        return delay * 2 ** attempt
    return None


def _retrying(step: Callable[[], PublishResult], cfg: PublishConfig, say: Callable[[str], None]) -> PublishResult:
    for attempt in range(max(1, cfg.tries)):
        try:
            return step()
        except Exception as e:
            wait = _retry_wait(e, attempt, cfg.retry_delay)
            if wait is None or attempt == cfg.tries - 1:
                raise
            what = f"HTTP {_status(e)}" if _status(e) else type(e).__name__
            say(f"{what} from the Hub; retrying in {wait:.2g} s ({attempt + 1} of {cfg.tries - 1} retries)")
            time.sleep(wait)
    raise AssertionError("unreachable")


def _recorded_card_oid(api: HfApi, cfg: PublishConfig) -> str | None:
    """The card vitspace last pushed, as the remote marker records it."""
    with tempfile.TemporaryDirectory() as cache:  # a file read once: kept out of the user's Hub cache
        marker = Path(api.hf_hub_download(cfg.repo_id, MARKER, revision=cfg.revision, cache_dir=cache))
        try:
            return json.loads(marker.read_text()).get("card_oid")
        except (ValueError, AttributeError):
            return None  # a marker that is not ours: the card counts as hand-written


def _keeps_card(api: HfApi, cfg: PublishConfig, staged: Path) -> bool:
    """Whether a README.md edited on the Hub since vitspace pushed it is kept; then the staged marker goes on
    recording the card vitspace last pushed.

    vitspace's own, as huggingface_hub has no notion of a file someone edited by hand: the marker holds the git oid
    of the card vitspace pushed, and a README.md on the Hub with another oid is someone's work.
    """
    if cfg.overwrite_card:
        return False
    remote = {f.path: f for f in api.get_paths_info(cfg.repo_id, [CARD, MARKER], revision=cfg.revision)
              if isinstance(f, RepoFile)}
    if CARD not in remote or remote[CARD].blob_id == git_hash((staged / CARD).read_bytes()):
        return False
    recorded = _recorded_card_oid(api, cfg) if MARKER in remote else None
    if remote[CARD].blob_id == recorded:
        return False
    (staged / MARKER).write_bytes(_marker(recorded))
    return True


def _unchanged(op: CommitOperationAdd) -> bool:
    # create_commit drops a file whose oid the Hub reported at preupload (hf_api.py, "Skipping upload for ...");
    # the same test says which files went
    remote = getattr(op, "_remote_oid", None)
    return remote is not None and remote == op._local_oid


def _push(api: HfApi, cfg: PublishConfig, staged: Path, files: list[str], say: Callable[[str], None]) -> PublishResult:
    """One attempt: repository, branch, one commit of what differs. Safe to repeat: a commit that landed before its
    answer was lost shows up as nothing to change."""
    url = api.create_repo(cfg.repo_id, private=True if cfg.private else None, exist_ok=True)
    if cfg.revision and cfg.revision != "main" and not cfg.create_pr:
        api.create_branch(cfg.repo_id, branch=cfg.revision, exist_ok=True)
    kept = _keeps_card(api, cfg, staged)
    operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(staged / p))
                  for p in files if not (kept and p == CARD)]
    say(f"committing to {url}: the files the Hub does not hold yet")
    # create_commit validates README.md against the Hub's rules (/api/validate-yaml) before it uploads anything,
    # and leaves out the files the Hub already holds
    info = api.create_commit(cfg.repo_id, operations, commit_message=f"Upload {public_name(resolve(cfg.model))} "
                             "with vitspace", revision=cfg.revision, create_pr=cfg.create_pr)
    uploaded = [op.path_in_repo for op in operations if not _unchanged(op)]
    result = PublishResult(cfg.repo_id, staged, files, uploaded, kept, repo_url=str(url))
    if uploaded:
        result.commit_url, result.pr_url = info.commit_url, info.pr_url
    return result


def _explain(e: BaseException, cfg: PublishConfig, api: HfApi) -> str:
    status = _status(e)
    server = " ".join(dict.fromkeys(line.strip() for line in (getattr(e, "server_message", None) or "").splitlines()
                                    if line.strip()))
    detail = f" The Hub said: {server}" if server else ""
    if isinstance(e, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set: unset it (or set HF_HUB_OFFLINE=0) to publish"
    if status == 401:
        return ("the Hub rejected the token (401 Unauthorized): it is invalid, expired or revoked. Run "
                "`hf auth login` again or set HF_TOKEN to a token with write access." + detail)
    if status == 403:
        return (f"no permission to write to {cfg.repo_id} (403 Forbidden): the token needs write access to "
                f"{cfg.repo_id.split('/')[0]} (a fine-grained token needs 'write' on this repository)." + detail)
    if status == 404:
        return (f"{cfg.repo_id} or its revision {cfg.revision or 'main'} was not found (404), or the token "
                "cannot see it." + detail)
    if status == 429:
        return f"the Hub was still rate-limiting this token (429) after {cfg.tries} tries; wait, then run again"
    if status is not None and status >= 500:
        return f"the Hub failed with HTTP {status} on each of {cfg.tries} tries; try again later." + detail
    if isinstance(e, HfHubHTTPError) or (isinstance(e, ValueError) and "metadata" in str(e)):
        return f"the Hub refused the upload{f' (HTTP {status})' if status else ''}: {e}"
    if isinstance(e, httpx2.TransportError):
        return (f"cannot reach the Hub at {api.endpoint} after {cfg.tries} tries ({type(e).__name__}: {e}); "
                "check the network connection and HF_ENDPOINT")
    return f"{type(e).__name__}: {e}"


def publish(cfg: PublishConfig, *, dry_run: Path | None = None, progress: Callable[[str], None] | None = None,
            token: str | None = None) -> PublishResult:
    """Stage the model's card and files, then (unless dry_run) push what differs to the Hub in one commit.

    Args:
        cfg: the model, the repository and how to push.
        dry_run: stage the tree in this folder and contact nothing.
        progress: progress messages; None: silent.
        token: the token to push with (a signed-in visitor's, say); None: `resolve_token()`.

    Returns:
        The staged tree and, after a push, what was committed and where.

    Raises:
        PublishArgumentError: a bad repository id or staging folder.
        UnknownModelError: the model is no registered name, Hub id or folder; UnsupportedModelError: one vitspace
            cannot run.
        CardError: unusable artifacts or benchmark, or a file to publish that did not build; CardMetadataError
            where the Hub would reject the card.
        PublishError: no token, or the push failed; the staged tree stays on disk.
    """
    say = progress or (lambda message: None)
    check_repo_id(cfg.repo_id)
    spec = resolve(cfg.model)
    token = None if dry_run else token or resolve_token()  # before the build: a missing token should not cost one
    artifacts = ensure_artifacts(cfg.model, cfg.artifacts, say)
    card = build_card(cfg.model, artifacts, cfg.benchmark, repo_id=cfg.repo_id, files=cfg.files)
    validate_card(card)  # the Hub's rules, offline: before anything is staged or sent; create_commit asks the Hub
    tree = build_tree(spec, artifacts, str(card), cfg.files)
    dest = dry_run or cfg.staging or artifacts / "hub" / cfg.repo_id.replace("/", "--")
    staged = write_tree(tree, dest, protect=artifacts)
    files = list(tree)
    if dry_run:
        return PublishResult(cfg.repo_id, staged, files, dry_run=True)
    api = HfApi(token=token, library_name="vitspace")
    try:
        return _retrying(lambda: _push(api, cfg, staged, files, say), cfg, say)
    except Exception as e:  # whatever went wrong, the user gets a message without the token, and the tree
        message = _explain(e, cfg, api) + f"\nNothing was lost: the tree to push is staged in {staged}"
        raise PublishError(_scrub(message, token)) from None  # the chained error may quote request headers

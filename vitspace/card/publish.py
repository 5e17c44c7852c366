"""Publish a model's compressed files to the Hugging Face Hub, in one commit.

    python -m vitspace.card.publish --model NAME --repo-id USER/NAME [--artifacts DIR] [--private]
        [--dry-run DIR] [--revision BRANCH] [--create-pr] [--overwrite-card]

Save locally, then push: the tree is staged in a folder first (README.md, the model card; config.json and
preprocessor_config.json, which Optimum's classes read; the built files, ONNX in onnx/ and the OpenVINO IR in
openvino/; vitspace.json with the labels, preprocessing and base model; manifest.json; .vitspace.json, which records
the card vitspace last pushed). --dry-run DIR writes that tree, byte for byte what would be pushed,
and contacts nothing. Without --artifacts (or when DIR has no manifest.json) the files are built
first. Only files that differ from the Hub are committed, so a second run with nothing changed makes
no commit. A README.md edited on the Hub since vitspace pushed it is kept unless --overwrite-card.

The token comes from HF_TOKEN or `hf auth login`; it is never printed nor written. Rate limits (429),
server errors (5xx) and network failures are retried with exponential backoff; whatever fails, the
staged tree stays on disk. Exit status 0 on success, 1 on failure, 2 on bad arguments.
"""
import sys
from pathlib import Path

from ..errors import CardError, CardMetadataError, UnknownModelError, UnsupportedModelError, VitspaceError
from ..util import cli
from .hub import CARD, PublishArgumentError, PublishConfig, PublishResult, publish


def _report(result: PublishResult) -> str:
    if result.dry_run:
        lines = [f"dry run: the tree for {result.repo_id} is in {result.staged} (nothing was sent)"]
        lines += [f"  {p} ({(result.staged / p).stat().st_size:,} bytes)" for p in result.files]
        return "\n".join(lines)
    lines = []
    if result.uploaded:
        where = f"pull request {result.pr_url}" if result.pr_url else result.commit_url
        lines.append(f"committed {len(result.uploaded)} files to {result.repo_id}: {where}")
        lines += [f"  {p}" for p in result.uploaded]
    else:
        lines.append(f"{result.repo_id} is up to date: nothing changed, no commit made")
    if result.kept_card:
        lines.append(f"kept {CARD} on the Hub: it was edited there since vitspace last pushed it. Pass "
                     f"--overwrite-card to replace it with {result.staged / CARD}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = cli.parser("card.publish", __doc__)
    p.add_argument("--model", required=True, help="registry name, Hub id (owner/name[@revision]) or model folder")
    p.add_argument("--repo-id", required=True, help="NAMESPACE/NAME on the Hub")
    p.add_argument("--artifacts", type=Path, help="a compress build (manifest.json and files); built if missing")
    p.add_argument("--benchmark", type=Path, help="benchmark JSON shown in the card")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--dry-run", type=Path, metavar="DIR", help="write the tree to DIR and contact nothing")
    p.add_argument("--revision", metavar="BRANCH", help="branch to commit to (created if missing)")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    p.add_argument("--overwrite-card", action="store_true", help="replace a README.md edited on the Hub")
    args = p.parse_args(argv)
    cfg = PublishConfig(args.model, args.repo_id, args.artifacts, args.benchmark, args.private, args.revision,
                        args.create_pr, args.overwrite_card)
    try:
        result = publish(cfg, dry_run=args.dry_run, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except CardMetadataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (PublishArgumentError, UnknownModelError, UnsupportedModelError, CardError) as e:
        print(f"error: {e}", file=sys.stderr)  # bad arguments; CardError: unusable artifacts or benchmark
        return 2
    except VitspaceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The build cache against its limit, and cleaning it: `python -m vitspace.compress.clean [--builds DIR] [--clean]
[--json]`.

Prints how much the builds folder (--builds, else $VITSPACE_BUILDS or ~/.cache/vitspace/builds) holds against its
limit ($VITSPACE_BUILDS_MAX_GB gigabytes, 20 unless set) and how many builds. With --clean it first does what the
app does when it starts: removes the folders a crashed or killed build left without their manifest (never one
that another process is building), then the least recently used builds and benchmark runs until the folder is
under the limit (never one in use).
"""
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ..errors import command
from ..util import cli
from ..util.paths import builds_root
from . import cache


@command
def main(argv=None) -> int:
    p = cli.parser("compress.clean", __doc__)
    p.add_argument("--builds", type=Path, metavar="DIR", help="the builds folder (default: the app's)")
    p.add_argument("--clean", action="store_true",
                   help="remove half-builds, then the least recently used builds down to the limit (default: off, "
                        "only report)")
    p.add_argument("--json", action="store_true", help="print the use and what was removed as JSON")
    args = p.parse_args(argv)
    root = args.builds or builds_root()
    swept = cache.sweep(root) if args.clean else []
    evicted = cache.evict(root) if args.clean else []
    usage = cache.usage(root)
    if args.json:
        print(json.dumps({**asdict(usage), "root": str(usage.root), "half_builds_removed": [str(f) for f in swept],
                          "evicted": [str(f) for f in evicted]}, indent=2))
        return 0
    for what, folders in (("half-build removed", swept), ("least recently used, removed", evicted)):
        for folder in folders:
            print(f"{what}: {folder.name}")
    print(f"{root}: {usage.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What every `python -m vitspace.<verb>` command shares: its parser, with the module's docstring as help."""
import argparse

__all__ = ["parser"]


def parser(verb: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of `python -m vitspace.VERB`, with `doc` (the module's docstring) as its description, kept as
    written."""
    return argparse.ArgumentParser(prog=f"python -m vitspace.{verb}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

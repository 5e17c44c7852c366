"""What every `python -m vitspace.<verb>` command shares: its parser, with the module's docstring as help."""
import argparse

__all__ = ["parser"]


def parser(verb: str, doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"python -m vitspace.{verb}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

"""What every `python -m vitspace.<verb>` command shares: its parser, with the module's docstring as help."""
import argparse

__all__ = ["parser", "add_model", "MODEL_HELP"]


def parser(verb: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of `python -m vitspace.VERB`, with `doc` (the module's docstring) as its description, kept as
    written."""
    return argparse.ArgumentParser(prog=f"python -m vitspace.{verb}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


MODEL_HELP = "a registered name (python -m vitspace.models lists them), a Hub id (owner/name[@revision]) or a folder"


def add_model(p: argparse.ArgumentParser, **kwargs) -> None:
    """The --model option every command shares: a model named any of the three ways."""
    p.add_argument("--model", metavar="MODEL", help=kwargs.pop("help", MODEL_HELP), **kwargs)

"""What every `python -m vitspace.<verb>` command shares: its parser, with the module's docstring as help."""
import argparse
import dataclasses
import typing

__all__ = ["parser", "add_model", "MODEL_HELP", "parse_config"]


def parser(verb: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of `python -m vitspace.VERB`, with `doc` (the module's docstring) as its description, kept as
    written."""
    return argparse.ArgumentParser(prog=f"python -m vitspace.{verb}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


MODEL_HELP = "a registered name (python -m vitspace.models lists them), a Hub id (owner/name[@revision]) or a folder"


def add_model(p: argparse.ArgumentParser, **kwargs) -> None:
    """The --model option every command shares: a model named any of the three ways."""
    p.add_argument("--model", metavar="MODEL", help=kwargs.pop("help", MODEL_HELP), **kwargs)


def _argument(f: dataclasses.Field, hint, owner: str) -> dict:
    """add_argument's keywords for a config field: its type from the annotation, its help from its metadata."""
    kinds = [k for k in typing.get_args(hint) or (hint,) if k is not type(None)]
    help_ = f.metadata["help"]
    if bool in kinds:  # bool, or bool | str for "auto": --flag / --no-flag, the default when neither is given
        shown = {False: "off", True: "on"}.get(f.default, f.default) if isinstance(f.default, bool) else f.default
        return {"default": f.default, "help": f"{help_} (default: {shown})", "action": argparse.BooleanOptionalAction}
    if len(kinds) != 1 or kinds[0] not in (int, float, str):
        raise TypeError(f"{owner}.{f.name}: no command-line form for {hint}")
    help_ += f" (default: {f.default})" if f.default is not None else ""  # None's meaning is in the help
    return {"default": f.default, "help": help_, "type": kinds[0], "choices": f.metadata.get("choices"),
            "metavar": "N" if kinds[0] is int else None}


def parse_config(verb: str, doc: str | None, config_cls, argv=None):
    """A config dataclass from the command line: one option per field (`--field-name`), typed by its annotation,
    explained by its metadata's "help" (and "choices")."""
    p = parser(verb, doc)
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        p.add_argument("--" + f.name.replace("_", "-"), **_argument(f, hints[f.name], config_cls.__name__))
    return config_cls(**vars(p.parse_args(argv)))

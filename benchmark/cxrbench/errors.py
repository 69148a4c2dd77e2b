"""Errors a user can act on. Each message names the file, column, row or field at fault."""

from __future__ import annotations


class CxrbenchError(Exception):
    """Base class: the CLI prints these as one clear line instead of a traceback.

    The message is made `printable` here, once for every error: it names files and echoes text a
    submission chose, and ends up on a terminal and in records."""

    def __init__(self, message: object = "", *args: object):
        super().__init__(printable(message), *args)


class DataError(CxrbenchError):
    """A dataset file, column, row or image is missing or malformed."""


class SchemaError(DataError):
    """A table does not follow the canonical row schema."""


class ConfigError(CxrbenchError):
    """A task spec, preset, recipe or manifest is invalid."""


class SubmissionError(CxrbenchError):
    """A submission crashed, hung, or returned outputs of the wrong count, shape, dtype or range."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the run (`cxrbench.runner.interrupt`). A KeyboardInterrupt, so no
    `except Exception` swallows it and every `finally` on the way out runs; exit status 128 + signal.
    `kept` says what the run leaves behind (filled in on the way out)."""

    def __init__(self, signum: int, kept: str = ""):
        super().__init__(signum)
        self.signum, self.kept = signum, kept

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        import signal

        return signal.Signals(self.signum).name


def printable(text: object) -> str:
    """`text` with every character that is not printable written as a Python escape (`\\x1b`,
    `\\u202e`, `\\udcff`): control characters, line breaks, bidi overrides, lone surrogates (an
    undecodable byte of a file name). Every file name and submitted text that cxrbench prints goes
    through here, so it can neither drive a terminal nor break a one-line message or a UTF-8 record."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else _escaped(c) for c in s)


def _escaped(c: str) -> str:
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def pydantic_problems(exc, most: int = 3) -> str:
    """A pydantic error as one line a user can act on: `field 'a.b': message; ...`."""
    parts = []
    for e in exc.errors()[:most]:
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (typo?)"
        parts.append(f"field {loc!r}: {msg}" if loc else msg)  # a whole-model rule names its fields itself
    more = exc.error_count() - most
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def load_yaml_model(path, model, error: type[CxrbenchError] = CxrbenchError, *, what: str = "a mapping of fields"):
    """Read a YAML file into a pydantic model; every failure is one `error` naming the file and field."""
    import yaml
    from pydantic import ValidationError

    try:
        raw = yaml.safe_load(open(path).read())
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: expected {what} at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{path}: {pydantic_problems(exc)}") from None

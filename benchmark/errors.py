"""Errors a user can act on. Each message names the file, column, row or field at fault."""


class CxrbenchError(Exception):
    """Base class: the CLI prints these as one clear line instead of a traceback."""


class DataError(CxrbenchError):
    """A dataset file, column, row or image is missing or malformed."""


class SchemaError(DataError):
    """A table does not follow the canonical row schema."""


class ConfigError(CxrbenchError):
    """A task spec, preset, recipe or manifest is invalid."""


class SubmissionError(CxrbenchError):
    """A submission crashed, hung, or returned outputs of the wrong count, shape, dtype or range."""

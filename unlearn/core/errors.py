"""User-facing errors.

Every problem a user can fix (a bad config key, a missing data field, a model path that does not
exist, a run that diverged) raises :class:`UnlearnError` with a message that names the problem and
the fix. The CLI prints such errors on one line and exits with status 2, without a traceback.

A problem the toolkit can work around (samples cut to the context length, forget questions also in
the retain set) is an :class:`UnlearnWarning` sent with :func:`warn`, whose message says what was
done about it; the CLI prints each one on one line (`unlearn: warning: ...`).
"""

import warnings


class UnlearnError(Exception):
    """An error caused by the user's input or run, with an actionable message."""


class ConfigError(UnlearnError):
    """A config file or override is invalid (unknown key, bad value, unknown method)."""


class DataError(UnlearnError):
    """A data file is missing, malformed, or lacks a required field."""


class ModelLoadError(UnlearnError):
    """A model or tokenizer cannot be loaded."""


class TrainingDiverged(UnlearnError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class UnlearnWarning(UserWarning):
    """Something was worked around; the message says what and how (and how to silence or avoid it)."""


QUIET_CATEGORIES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
"""Warnings of these kinds from the libraries below (an API that a later version changes) are not the
user's business: the CLI keeps them out of the terminal and in LIBRARY_WARNINGS."""
LIBRARY_WARNINGS: list[str] = []
"""Those warnings, until a run or an evaluation writes them to its folder (library_warnings.log)."""


def warn(message: str) -> None:
    """Warn the user: one line on the CLI's stderr, a UserWarning for Python callers."""
    warnings.warn(message, UnlearnWarning, stacklevel=2)

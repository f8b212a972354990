"""One small exception family. The CLI maps it to one line and an exit code."""


class EdgecvError(Exception):
    """A failure the user can act on; the CLI prints the message and exits 1."""

    exit_code = 1


class UsageError(EdgecvError):
    """Bad input from the user (unknown model, bad option value); exit 2."""

    exit_code = 2


class MissingDependencyError(EdgecvError):
    """An optional package is not installed; the message names the extra to install."""


class WeightsError(EdgecvError):
    """A weights file is missing, unreadable, unsafe or does not fit the model."""


class DataError(UsageError):
    """A dataset is missing, empty or malformed; the message names the file."""


class TrainError(EdgecvError):
    """Training cannot go on (a non-finite loss); the message names the last good checkpoint."""

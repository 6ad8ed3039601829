"""User-facing errors: problems a user can fix (bad config, missing file, bad data).

`run.py` prints these as one paragraph and exits non-zero without a traceback; anything
else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, config or files; the message names it and the fix."""


class ConfigError(UserError):
    """An invalid config file, key, value or override."""


class DataError(UserError):
    """A missing, malformed or inconsistent data file."""


class CheckpointError(UserError):
    """A missing, corrupt or mismatched checkpoint."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says how to continue it (the run folder, the command)."""

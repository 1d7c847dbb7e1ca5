"""Error hierarchy for everything leadpipe reads or fetches.

Expected outcomes (a line that does not parse, a private address) are values,
not exceptions. Exceptions are for conditions that stop one input or the run,
and each carries a one-line, human-readable message.
"""


class LeadpipeError(Exception):
    """Base class: the message is shown to the operator as one line."""


class ConfigError(LeadpipeError):
    """Configuration is missing, unreadable or invalid."""


class InputError(LeadpipeError):
    """An input named by the operator cannot be used (missing path, directory...)."""


class RetryableError(LeadpipeError):
    """A remote system failed in a way that may pass (429, 5xx, timeouts)."""


class PermanentError(LeadpipeError):
    """A remote system refused in a way that retrying will not change (401, 404...)."""


class BusyError(LeadpipeError):
    """Another run holds the database lock."""

"""The one exception type for bad user input.

Its message is a single line naming the file, the field and the allowed range; the
CLI prints it and exits with status 2, without a traceback.
"""


class InputError(ValueError):
    """Bad user input (mission file, TLE file, weather file, ...)."""

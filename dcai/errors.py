"""The one base class for "your input is wrong" errors: the CLI turns them into exit status 2."""


class InputError(ValueError):
    """Bad input: the message names the file (or key) and the problem."""

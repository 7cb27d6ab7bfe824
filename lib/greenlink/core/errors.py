"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class UserError(Exception):
    """A problem with inputs, configuration or set-up that the user can fix."""

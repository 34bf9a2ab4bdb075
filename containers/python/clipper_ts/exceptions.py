"""Clipper's exception types (clipper_admin.exceptions)."""


class ClipperException(Exception):
    """A request the server refused, or one that could not be made.

    As in Clipper, a non-200 answer reads "Received error status code: <code> and message: <text>";
    `status` and `body` carry the HTTP status and the server's body (None when no answer came)."""

    def __init__(self, msg, status=None, body=None):
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.body = body


class UnconnectedException(ClipperException):
    """A ClipperConnection method was called before connect() or start_clipper()."""

    def __init__(self, *args, **kwargs):
        msg = 'No connection to Clipper cluster. Call ClipperConnection.connect to connect to an existing ' \
              'cluster or ClipperConnection.start_clipper to create a new one'
        super().__init__(msg)

"""JSON over HTTP with the standard library, raising Clipper's exception text.

An https:// server whose certificate a private CA signed is trusted through SSL_CERT_FILE=<ca.pem>
(Python's default SSL context reads it); verification is never turned off here."""

import json
import os
import urllib.error
import urllib.request

from .exceptions import ClipperException


def _error_text(err):
    try:
        return err.read().decode('utf-8', 'replace')
    except Exception:  # noqa: BLE001 - a body that cannot be read says nothing more
        return ''


def admin_token(token=None):
    """The management API token to send: `token`, else $CLIPPER_ADMIN_TOKEN; '' for none."""
    value = os.environ.get('CLIPPER_ADMIN_TOKEN', '') if token is None else token
    if '\n' in value or '\r' in value:
        raise ClipperException('admin_token must be one line')
    return value.strip()


def admin_headers(token):
    """The headers of a management API request: `Authorization: Bearer <token>` when there is one."""
    return {'Authorization': 'Bearer %s' % token} if token else {}


def request(url, body=None, timeout_s=60.0, headers=None):
    """POST `body` as JSON (GET when None); returns (status, content_type, text).

    A non-2xx answer raises ClipperException("Received error status code: <c> and message: <text>");
    an unreachable server raises ClipperException naming the URL."""
    data = None if body is None else json.dumps(body).encode('utf-8')
    all_headers = dict(headers or {})
    if data is not None:
        all_headers['Content-Type'] = 'application/json'
    req = urllib.request.Request(url, data=data, method='GET' if data is None else 'POST', headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:
            return (response.status, response.headers.get('Content-Type', ''),
                    response.read().decode('utf-8', 'replace'))
    except urllib.error.HTTPError as err:
        text = _error_text(err)
        msg = 'Received error status code: %d and message: %s' % (err.code, text)
        if err.code == 413:
            msg += ' (the body exceeds the server\'s limit: start it with a larger bodyBytesMax)'
        raise ClipperException(msg, status=err.code, body=text) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, 'reason', err)
        raise ClipperException('Could not reach %s: %s' % (url, reason)) from None


def parse_json(text, what):
    try:
        return json.loads(text)
    except ValueError:
        raise ClipperException('%s: expected JSON, got %r' % (what, text[:200])) from None

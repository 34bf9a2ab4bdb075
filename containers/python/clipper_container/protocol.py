"""Container protocol framing (containers/PROTOCOL.md; the TypeScript twin is src/rpc/protocol.ts).

A frame is a big-endian u32 body length followed by a body that is one msgpack map with a string
field `t`. FrameDecoder buffers socket chunks in any split and yields whole messages.
"""

import hashlib
import hmac
import struct

import msgpack

PROTOCOL_VERSION = 1
#: A frame body larger than this is a protocol error (the connection is closed).
FRAME_BYTES_MAX = 64 * 1024 * 1024

_LENGTH = struct.Struct('>I')

#: The environment variable holding the cluster's replica secret (hex, >= 32 bytes).
REPLICA_SECRET_ENV = 'CLIPPER_REPLICA_SECRET'
#: A hello nonce shorter than this is not answered with an auth.
NONCE_BYTES_MIN = 16
_AUTH_DOMAIN = b'clipper-replica-auth-v1'


def parse_secret_hex(text):
    """The secret from hex text (at least 32 bytes), or None when unusable."""
    text = (text or '').strip()
    if len(text) < 64 or len(text) % 2:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def auth_message(nonce, model, version, replica_id):
    """The bytes the MAC covers: each field as a big-endian u32 length and its bytes (src/rpc/replica_auth.ts)."""
    fields = (_AUTH_DOMAIN, bytes(nonce), model.encode('utf-8'), version.encode('utf-8'),
              str(replica_id).encode('ascii'))
    return b''.join(_LENGTH.pack(len(field)) + field for field in fields)


def replica_auth_mac(secret, nonce, model, version, replica_id):
    """The `auth` of a ready: HMAC-SHA256(secret, auth_message(...))."""
    return hmac.new(secret, auth_message(nonce, model, version, replica_id), hashlib.sha256).digest()


class ProtocolError(Exception):
    """A frame that is oversized, not msgpack, or not a map with a string `t`."""


def encode_frame(message):
    """Encode one message (a dict with a string 't') as a complete frame, length prefix included."""
    body = msgpack.packb(message, use_bin_type=True)
    return _LENGTH.pack(len(body)) + body


class FrameDecoder:
    """Incremental decoder: feed() socket chunks, get back the list of whole messages they complete.

    Raises ProtocolError on an oversized frame (as soon as its length prefix is seen) or on a body
    that is not a msgpack map with a string field `t`. After an error the decoder is unusable.
    """

    def __init__(self, frame_bytes_max=FRAME_BYTES_MAX):
        self._buf = bytearray()
        self._frame_bytes_max = frame_bytes_max

    def feed(self, chunk):
        self._buf += chunk
        buf = self._buf
        messages = []
        offset = 0
        view = memoryview(buf)
        try:
            while len(buf) - offset >= 4:
                (body_bytes,) = _LENGTH.unpack_from(buf, offset)
                if body_bytes > self._frame_bytes_max:
                    raise ProtocolError(
                        'frame of %d bytes exceeds %d' % (body_bytes, self._frame_bytes_max))
                if len(buf) - offset - 4 < body_bytes:
                    break
                try:
                    with view[offset + 4:offset + 4 + body_bytes] as body:
                        message = msgpack.unpackb(body, raw=False)
                except Exception as err:  # msgpack raises several unrelated types
                    raise ProtocolError('undecodable frame: %s: %s' % (type(err).__name__, err))
                offset += 4 + body_bytes
                if not isinstance(message, dict) or not isinstance(message.get('t'), str):
                    raise ProtocolError('frame body is not a message map with a string field t')
                messages.append(message)
        finally:
            view.release()
        if offset:
            del buf[:offset]
        return messages

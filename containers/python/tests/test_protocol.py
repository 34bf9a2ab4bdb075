"""Unit tests for clipper_container framing and conversions (run by
test/integration/python_runner.test.ts, or: cd containers/python && python3 -m unittest)."""

import struct
import unittest

import msgpack
import numpy as np

from clipper_container.model_loader import decode_inputs, encode_outputs, to_wire
from clipper_container.protocol import FrameDecoder, ProtocolError, encode_frame


class FrameDecoderTest(unittest.TestCase):
    def test_frames_split_anywhere_and_coalesced_decode_in_order(self):
        messages = [{'t': 'hb'}, {'t': 'predict', 'id': 7, 'data': b'\x00' * 300, 'n': 1},
                    {'t': 'bye', 'reason': 'ünï'}]
        stream = b''.join(encode_frame(m) for m in messages)
        for step in (1, 3, 7, len(stream)):
            decoder = FrameDecoder()
            out = []
            for i in range(0, len(stream), step):
                out.extend(decoder.feed(stream[i:i + step]))
            self.assertEqual(out, messages)

    def test_oversized_frame_fails_on_its_length_prefix(self):
        with self.assertRaisesRegex(ProtocolError, 'exceeds'):
            FrameDecoder(frame_bytes_max=16).feed(struct.pack('>I', 17))

    def test_bodies_that_are_not_message_maps_fail(self):
        for body in (b'\xc1', msgpack.packb([1, 2]), msgpack.packb({'x': 1}), msgpack.packb({'t': 3}),
                     msgpack.packb({'t': 'hb'}) + b'\x01'):
            with self.assertRaises(ProtocolError):
                FrameDecoder().feed(struct.pack('>I', len(body)) + body)


class ConversionTest(unittest.TestCase):
    def test_numeric_inputs_reshape_only_when_lengths_match(self):
        data = np.arange(6, dtype='<f4').tobytes()
        square = decode_inputs({'type': 'floats', 'n': 2, 'lens': [3, 3], 'data': data})
        self.assertEqual(square.shape, (2, 3))
        self.assertTrue(square.flags.writeable)
        ragged = decode_inputs({'type': 'floats', 'n': 2, 'lens': [1, 5], 'data': data})
        self.assertEqual([list(x) for x in ragged], [[0.0], [1.0, 2.0, 3.0, 4.0, 5.0]])

    def test_inconsistent_frames_are_rejected(self):
        with self.assertRaisesRegex(ValueError, 'lens describe'):
            decode_inputs({'type': 'doubles', 'n': 1, 'lens': [2], 'data': b'\x00' * 8})
        with self.assertRaisesRegex(ValueError, '1 lens for 2 inputs'):
            decode_inputs({'type': 'doubles', 'n': 2, 'lens': [1], 'data': b'\x00' * 8})

    def test_outputs_become_plain_python(self):
        out = encode_outputs(np.array([[1.5, 2.0], [3.0, 4.0]]), 2)
        self.assertEqual(out, [[1.5, 2.0], [3.0, 4.0]])
        self.assertIs(type(to_wire(np.float64(1.5))), float)
        self.assertIs(type(to_wire(np.int64(3))), int)
        self.assertEqual(to_wire({1: np.bool_(True)}), {'1': True})
        self.assertEqual(to_wire(1 << 70), str(1 << 70))
        self.assertEqual(to_wire(object.__new__(type('X', (), {'__str__': lambda self: 'x!'}))), 'x!')
        with self.assertRaisesRegex(ValueError, '1 outputs for 2 inputs'):
            encode_outputs([1], 2)
        with self.assertRaisesRegex(TypeError, 'NoneType'):
            encode_outputs(None, 1)


if __name__ == '__main__':
    unittest.main()

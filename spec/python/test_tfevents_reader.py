"""The spec's independent TensorBoard reader (tfevents_reader.py): its CRC32C, and that it
refuses damaged records, so the end-to-end check of the engine's files can fail."""
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfevents_reader as tr  # noqa: E402


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def record(data):
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", tr.masked_crc(header)) + data
            + struct.pack("<I", tr.masked_crc(data)))


def event(step, wall, values):
    summary = b""
    for tag, v in values.items():
        t = tag.encode()
        value = b"\x0a" + varint(len(t)) + t + b"\x15" + struct.pack("<f", v)
        summary += b"\x0a" + varint(len(value)) + value
    return (b"\x09" + struct.pack("<d", wall) + b"\x10" + varint(step) + b"\x2a"
            + varint(len(summary)) + summary)


class Crc32c(unittest.TestCase):
    def test_known_vectors(self):
        self.assertEqual(tr.crc32c(b"123456789"), 0xE3069283)
        self.assertEqual(tr.crc32c(bytes(32)), 0x8A9136AA)
        self.assertEqual(tr.crc32c(b"\xff" * 32), 0x62A8AB43)
        self.assertEqual(tr.crc32c(bytes(range(32))), 0x46DD794E)

    def test_mask(self):
        self.assertEqual(tr.masked_crc(b""), 0xA282EAD8)  # crc32c("") == 0


class Records(unittest.TestCase):
    def blob(self):
        version = b"\x09" + struct.pack("<d", 1.0) + b"\x1a\x0dbrain.Event:2"
        return record(version) + record(event(300, 2.0, {"loss": 0.25, "a/b": -1.5}))

    def test_decodes_events(self):
        with tempfile.NamedTemporaryFile(suffix=".tfevents") as f:
            f.write(self.blob())
            f.flush()
            evs = tr.read_file(f.name)
        self.assertEqual(len(evs), 2)
        self.assertEqual(evs[0]["file_version"], "brain.Event:2")
        self.assertEqual(evs[1]["step"], 300)
        self.assertEqual(evs[1]["wall_time"], 2.0)
        self.assertEqual(evs[1]["values"], {"loss": 0.25, "a/b": -1.5})

    def test_every_damaged_byte_is_detected(self):
        blob = self.blob()
        for i in range(len(blob)):
            bad = bytearray(blob)
            bad[i] ^= 0x01
            with self.assertRaises(tr.CorruptRecord, msg="byte %d" % i):
                list(tr.records(bytes(bad)))

    def test_truncation_is_detected(self):
        blob = self.blob()
        for cut in (1, 4, 13, len(blob) - 1):
            with self.assertRaises(tr.CorruptRecord):
                list(tr.records(blob[:cut]))


if __name__ == "__main__":
    unittest.main()

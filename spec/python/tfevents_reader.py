#!/usr/bin/env python3
"""An independent reader of TensorBoard event files, for the specs (stdlib only).

It shares no code with the engine's writer (engine/tfevents.c): its own CRC32C (bitwise
table, Python), its own TFRecord framing and protobuf wire-format decoding. Both CRCs of
every record are checked; a bad one raises CorruptRecord naming the file and offset.

    python3 tfevents_reader.py FILE...   prints one JSON object per event, exits 1 on damage

Each event is {"file", "wall_time", "step", "file_version", "values": {tag: float}};
the float is the float32 simple_value widened to a Python float (exact).
"""
import json
import struct
import sys

_POLY = 0x82F63B78  # CRC32C (Castagnoli), reflected
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class CorruptRecord(ValueError):
    pass


def records(blob, name="<bytes>"):
    """Yields the data of each TFRecord in blob, checking both CRCs."""
    pos = 0
    while pos < len(blob):
        if len(blob) - pos < 12:
            raise CorruptRecord("%s: offset %d: truncated record header" % (name, pos))
        header = blob[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", blob[pos + 8:pos + 12])
        if len_crc != masked_crc(header):
            raise CorruptRecord("%s: offset %d: length CRC mismatch" % (name, pos))
        end = pos + 12 + length
        if end + 4 > len(blob):
            raise CorruptRecord("%s: offset %d: truncated record data" % (name, pos))
        data = blob[pos + 12:end]
        (data_crc,) = struct.unpack("<I", blob[end:end + 4])
        if data_crc != masked_crc(data):
            raise CorruptRecord("%s: offset %d: data CRC mismatch" % (name, pos))
        yield data
        pos = end + 4


def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CorruptRecord("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CorruptRecord("varint too long")


def fields(buf):
    """Yields (field number, wire type, value) of a protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = _varint(buf, pos)
        elif wt == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            v, pos = buf[pos:pos + n], pos + n
        elif wt == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        else:
            raise CorruptRecord("unsupported wire type %d" % wt)
        if pos > len(buf):
            raise CorruptRecord("field %d runs past the message" % num)
        yield num, wt, v


def decode_event(data):
    ev = {"wall_time": None, "step": 0, "file_version": None, "values": {}}
    for num, wt, v in fields(data):
        if num == 1 and wt == 1:
            ev["wall_time"] = struct.unpack("<d", v)[0]
        elif num == 2 and wt == 0:
            ev["step"] = v - (1 << 64) if v >= 1 << 63 else v
        elif num == 3 and wt == 2:
            ev["file_version"] = v.decode("utf-8")
        elif num == 5 and wt == 2:  # Summary
            for snum, swt, value in fields(v):
                if snum != 1 or swt != 2:
                    continue
                tag, simple = None, None
                for vnum, vwt, x in fields(value):
                    if vnum == 1 and vwt == 2:
                        tag = x.decode("utf-8")
                    elif vnum == 2 and vwt == 5:
                        simple = struct.unpack("<f", x)[0]
                if tag is None or simple is None:
                    raise CorruptRecord("a Summary.Value without tag or simple_value")
                if tag in ev["values"]:
                    raise CorruptRecord("tag %s twice in one event" % tag)
                ev["values"][tag] = simple
    return ev


def read_file(path):
    with open(path, "rb") as f:
        blob = f.read()
    out = []
    for data in records(blob, path):
        ev = decode_event(data)
        ev["file"] = path
        out.append(ev)
    return out


def main(argv):
    try:
        for path in argv[1:]:
            for ev in read_file(path):
                print(json.dumps(ev, sort_keys=True))
    except CorruptRecord as e:
        print("tfevents_reader: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

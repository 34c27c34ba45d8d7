"""Layer tars with their times clamped: every header's mtime later than SOURCE_DATE_EPOCH set to it, in place.

What this is for (normalize.py, issue 22): the classic builder writes each file's build-time mtime into the
layer it makes, and two `--no-cache` builds of one commit differ in those mtimes only (measured:
docs/evidence/figures/reproducibility.txt). Clamping them, as BuildKit's `rewrite-timestamp` does, makes the
layers equal byte for byte.

Why in place: a ustar header's mtime is a fixed 12-byte field, so clamping it changes neither the header's size
nor the layer's. The engine's export can then be rewritten as it streams, with no copy of a 5 GB layer on disk.
The engine writes PAX headers only for long names (measured on cpu and CUDA layers); a PAX time record, which a
reader would take over the ustar field and which cannot be changed in place, is refused, not passed through.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from .errors import PtkitError

BLOCK = 512
COPY_CHUNK = 1 << 20
MTIME = slice(136, 148)
CHECKSUM = slice(148, 156)
SIZE = slice(124, 136)
TYPE = 156
HEADER_ONLY = b"123456"  # hard link, symlink, character and block device, directory, FIFO: no data follows
PAX_TYPES = b"xg"
PAX_TIMES = ("mtime", "atime", "ctime")


class Reader(Protocol):
    def read(self, size: int, /) -> bytes: ...


def read_exact(stream: Reader, size: int) -> bytes:
    """`size` bytes, or a one-line error when the stream ends first (an export cut short)."""
    data = stream.read(size)
    if len(data) != size:
        raise PtkitError(f"the engine's image export ended early ({len(data)} of {size} bytes)")
    return data


def number(field: bytes) -> int:
    """A tar numeric field: octal text, or base-256 (the high bit of the first byte set) for large values."""
    if field[0] & 0x80:
        value = int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
        return value - (1 << (8 * len(field) - 1)) if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def checksum(header: bytes | bytearray) -> int:
    """The header's checksum: the sum of its bytes with the checksum field taken as spaces."""
    return sum(header[:148]) + 8 * 32 + sum(header[156:])


def clamp_header(header: bytes, epoch: int) -> bytes:
    """The header with its mtime clamped to `epoch` and its checksum remade; unchanged when not later.
    A block whose checksum does not add up is not a tar header: refused, not rewritten."""
    if number(header[CHECKSUM]) != checksum(header):
        raise PtkitError("a layer of the image is not a tar archive the engine's way (a header's checksum does "
                         "not add up): cannot normalize it")
    if number(header[MTIME]) <= epoch:
        return header
    out = bytearray(header)
    out[MTIME] = b"%011o\0" % epoch
    out[CHECKSUM] = b"%06o\0 " % checksum(out)
    return bytes(out)


def pax_records(data: bytes) -> dict[str, str]:
    """The records of a PAX extended header ('LEN key=value\\n' each)."""
    records, pos = {}, 0
    while pos < len(data) and data[pos:pos + 1] != b"\0":
        length = int(data[pos:data.index(b" ", pos)])
        key, _, value = data[data.index(b" ", pos) + 1:pos + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


def clamp(stream: Reader, size: int, epoch: int) -> Iterator[tuple[bytes, bytes]]:
    """A layer tar of `size` bytes read from `stream`, as (original, clamped) pieces of equal length."""
    left, pax_size = size, None
    while left >= BLOCK:
        header = read_exact(stream, BLOCK)
        left -= BLOCK
        if not header.strip(b"\0"):  # the end-of-archive blocks: the rest is padding, copied as it is
            yield header, header
            break
        yield header, clamp_header(header, epoch)
        kind = header[TYPE:TYPE + 1]
        length = 0 if kind in HEADER_ONLY and kind else (number(header[SIZE]) if pax_size is None else pax_size)
        pax_size = None
        data_left = -(-length // BLOCK) * BLOCK
        if kind in PAX_TYPES and kind:
            body = read_exact(stream, data_left)
            records = pax_records(body[:length])
            if times := [key for key in PAX_TIMES if key in records]:
                raise PtkitError(f"a layer of the image carries PAX time records ({', '.join(times)}): ptkit "
                                 "clamps the ustar times in place and cannot normalize it")
            pax_size = int(records["size"]) if "size" in records else None
            left -= data_left
            yield body, body
            continue
        left -= data_left
        yield from _copy(stream, data_left)
    yield from _copy(stream, left)


def _copy(stream: Reader, size: int) -> Iterator[tuple[bytes, bytes]]:
    while size > 0:
        piece = read_exact(stream, min(size, COPY_CHUNK))
        size -= len(piece)
        yield piece, piece

"""Web server access logs (Apache/Nginx common and combined): finding, reading, parsing.

Reading is I/O: :func:`expand_sources` turns the operator's paths, globs and
URLs into :class:`LogSource` objects, :func:`read_line_batches` turns one file
into Arrow batches of ``(line_no, line)``. Parsing is pure: :data:`LINE_PATTERN`
and :func:`unescape_field` describe a log line, and DuckDB applies the pattern
to whole batches at once (see ``sinks/staging.py``).
"""

from __future__ import annotations

import glob
import gzip
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from enrich.errors import InputError
from enrich.redact import SecretURL, reveal

#: Lines longer than this are rejected unparsed (a real request line is far shorter).
MAX_LINE_BYTES = 64 * 1024
#: Bytes handed to DuckDB per batch, and read from disk per piece: bound memory
#: whatever the file size.
BATCH_BYTES = 32 * 1024 * 1024
PIECE_BYTES = 4 * 1024 * 1024
#: Bytes read from one file at most, after decompression: a gzip bomb (1,000:1 and more)
#: stops here with a counted reject instead of filling the disk for hours.
MAX_FILE_BYTES = 20 * 10**9
OVER_THE_CAP = "decompressed size over the cap: the rest of the file is not read"

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
#: One combined/common log line, optionally prefixed by a quoted X-Forwarded-For
#: list or a virtual host / X-Forwarded-For token, optionally followed by more
#: quoted fields (nginx's "$http_x_forwarded_for" and friends). RE2 syntax.
LINE_PATTERN = (
    r'^(?:"([^"]*)" )?'  # qprefix: a quoted X-Forwarded-For list before the client
    r"(?:((?:[^ ,\"]+, )*[^ ,\"]+) )?"  # prefix: a vhost, or an unquoted XFF list
    r"((?:[^ ,]+, )*[^ ,]+) "  # client: the remote address (or an XFF list ending in it)
    r"\S+ \S+ "  # ident, user: never stored (may be personal data)
    r"\[([^\]]+)\] "  # time
    + _QUOTED  # request
    + r" (\d{3}|-) (?:\d+|-)"  # status, size
    + r"(?:( )" + _QUOTED + " " + _QUOTED + ")?"  # pair marker, referrer, user agent
    + r"((?: +(?:" + r'"(?:[^"\\]|\\.)*"' + r"|[^ \"]+))*)$"  # trailing fields
)
LINE_FIELDS = ["qprefix", "prefix", "client", "time", "request", "status", "pair", "referrer", "agent", "extra"]
TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
#: Apache's ``%v:%p`` (Debian's ``vhost_combined``): one host, name or address, with a port.
#: Proxies write X-Forwarded-For without ports, and a list is never one vhost, so a lone
#: ``host:port`` before the client is the server's own name, never a hop.
_VHOST_PORT = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[^\s:\[\],\"]+):\d{1,5}")

_ROTATION_SUFFIX = re.compile(r"(\.(gz|bz2|xz|zst))$|([.-]\d+)$|([.-]\d{4}-?\d{2}-?\d{2}(-?\d+)?)$")
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {b'"': b'"', b"\\": b"\\", b"n": b"\n", b"t": b"\t", b"r": b"\r"}


@dataclass(frozen=True)
class LogSource:
    """One log file to read: a local path or a URL, and the stream it belongs to."""

    location: str
    stream: str
    is_url: bool = False


def stream_name(location: str) -> str:
    """The log stream a file belongs to: its name without rotation suffixes.

    ``access.log``, ``access.log.1``, ``access.log.2.gz`` and
    ``access.log-20261124.gz`` are all the stream ``access.log``; duplicate
    lines are only looked for within one stream.
    """
    name = urlsplit(location).path if "://" in location else location
    base = Path(name).name
    while True:
        stripped = _ROTATION_SUFFIX.sub("", base)
        if stripped == base or not stripped:
            return base
        base = stripped


def expand_locations(patterns: tuple[str, ...] | list[str], option: str = "--logs") -> list[tuple[str, bool]]:
    """Paths, globs and URLs as (location, is_url), each once, in a stable order.

    Raises:
        InputError: a path that does not exist, a directory, or a glob that
            matches no file (one line each, naming the option and the culprit).
    """
    found: list[tuple[str, bool]] = []
    for pattern in patterns:
        if re.match(r"^https?://", pattern, re.IGNORECASE):
            # Shown, stored and logged redacted from here on; only download() asks for the real URL.
            found.append((SecretURL(pattern), True))
            continue
        expanded = Path(pattern).expanduser()
        if glob.has_magic(str(expanded)) and not expanded.is_file():  # a file named "[x].log" is that file
            matches = sorted(p for p in glob.glob(str(expanded)) if Path(p).is_file())
            if not matches:
                raise InputError(f"{option} {pattern!r} matches no file")
        elif expanded.is_dir():
            raise InputError(f"{option} {pattern!r} is a directory; give a file or a glob such as '{pattern}/*'")
        elif not expanded.exists():
            raise InputError(f"{option} {pattern!r}: no such file")
        else:
            matches = [str(expanded)]
        for match in matches:
            try:
                match.encode("utf-8")
            except UnicodeEncodeError:  # bytes no text encoding gives: shown escaped, never raw
                shown = repr(os.fsencode(match))[2:-1]
                raise InputError(f"{option}: the file name {shown} is not UTF-8; rename it") from None
        found.extend((m, False) for m in matches)
    # Once each, by the real location: two URLs differing only in their tokens are two files.
    return list({(reveal(location), is_url): (location, is_url) for location, is_url in found}.values())


def expand_sources(patterns: tuple[str, ...] | list[str]) -> list[LogSource]:
    """Log files as sources, each with the stream it belongs to (see :func:`expand_locations`)."""
    return [LogSource(location, stream_name(location), is_url) for location, is_url in expand_locations(patterns)]


@dataclass
class ReadResult:
    """What reading a file found besides its lines: damage at the end, if any; blank lines.

    ``stopped_at`` is the text of the last line read before the damage (cut
    short, when the damage cut it; ``""`` when nothing could be read): the
    reject's sample, masked like every other sample before it is stored.
    Blank lines (nothing but spaces, tabs and line ends) are counted here and
    never yielded: ``blank_lines`` of them, the first at ``first_blank_line``.
    """

    error: str | None = None
    stopped_at: str | None = None
    blank_lines: int = 0
    first_blank_line: int | None = None
    bytes_read: int = 0  # of the file on disk (compressed bytes for gzip): how far reading has come


def _open_bytes(path: Path):
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return path.open("rb")


def _lines(data: bytes, first_line_no: int, result: ReadResult) -> tuple[pa.RecordBatch, int]:
    """``data`` (whole lines) as a batch of ``(line_no, line)``, terminators kept, and its line count.

    Blank lines are counted in ``result`` and left out of the batch: a gzip bomb of
    empty lines then costs a pass of numpy over its bytes, not a row each in DuckDB
    (and in the line ledger).
    """
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            # Invalid UTF-8 becomes \xHH text, the escape nginx and Apache use
            # themselves: every line survives as text, no byte is dropped.
            data = data.decode("utf-8", errors="backslashreplace").encode("utf-8")
    buffer = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buffer == 10) + 1
    if len(data) and (len(ends) == 0 or ends[-1] != len(data)):
        ends = np.append(ends, len(data))
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    count = len(offsets) - 1
    lines = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))
    numbers = pa.array(np.arange(first_line_no, first_line_no + count, dtype=np.int64))
    blank = _blank_lines(buffer, offsets)
    if blank is not None:
        result.blank_lines += int(blank.sum())
        if result.first_blank_line is None:
            result.first_blank_line = first_line_no + int(np.argmax(blank))
        keep = pa.array(~blank)
        lines, numbers = lines.filter(keep), numbers.filter(keep)
    return pa.RecordBatch.from_arrays([numbers, lines], names=["line_no", "line"]), count


def _blank_lines(buffer: np.ndarray, offsets: np.ndarray) -> np.ndarray | None:
    """Which lines hold nothing but spaces, tabs, CR and LF (what SQL trims); None when none does.

    A log line always has a byte above 32, so one maximum per line rules out
    almost every batch; only a batch with candidates is looked at byte by byte.
    """
    if len(offsets) < 2:
        return None
    highest = np.maximum.reduceat(buffer, offsets[:-1])
    if not (highest <= 32).any():
        return None
    trimmed = (buffer == 32) | (buffer == 9) | (buffer == 13) | (buffer == 10)
    blank = np.maximum.reduceat((~trimmed).view(np.uint8), offsets[:-1]) == 0
    return blank if blank.any() else None


def read_line_batches(
    path: Path, result: ReadResult, batch_bytes: int = BATCH_BYTES, piece_bytes: int = PIECE_BYTES,
    max_bytes: int = MAX_FILE_BYTES,
) -> Iterator[pa.Table]:
    """Yield Arrow tables of ``(line_no, line)`` for a plain or gzip file.

    Line numbers start at 1; lines keep their terminator (trimmed later, in
    SQL). The file is read in small pieces (cache-friendly) gathered into
    tables of about ``batch_bytes`` (big enough for DuckDB to parallelise).
    A truncated or corrupt gzip stream ends the file early: the lines before
    the damage are yielded, ``result.error`` says what happened and
    ``result.stopped_at`` holds the line where reading stopped. So does a file
    that decompresses to more than ``max_bytes``: the rest is not read.
    """
    line_no = 1
    left = max_bytes  # bytes this file may still decompress to
    tail = b""
    last = b""  # the last whole line, for ``stopped_at``
    pending: list[pa.RecordBatch] = []
    pending_bytes = 0

    def flush() -> pa.Table:
        nonlocal pending, pending_bytes
        table = pa.Table.from_batches(pending)
        pending, pending_bytes = [], 0
        return table

    try:
        with _open_bytes(path) as handle:
            while True:
                piece = handle.read(min(piece_bytes, left + 1))
                if not piece:
                    break
                result.bytes_read = getattr(handle, "fileobj", handle).tell()
                if len(piece) > left:
                    result.error = OVER_THE_CAP
                    piece = piece[:left]
                left -= len(piece)
                data = tail + piece
                cut = data.rfind(b"\n") + 1
                data, tail = data[:cut], data[cut:]
                if len(tail) > MAX_LINE_BYTES:
                    # An endless line: keep its start (it will be rejected as too
                    # long) and drop the rest until its end, counting it once.
                    tail = tail[: MAX_LINE_BYTES + 1]
                if data:
                    last = data[data.rfind(b"\n", 0, len(data) - 1) + 1 :]
                    batch, count = _lines(data, line_no, result)
                    line_no += count
                    pending.append(batch)
                    pending_bytes += len(data)
                    if pending_bytes >= batch_bytes:
                        yield flush()
                if result.error:
                    break
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        result.error = f"damaged gzip data after line {line_no - 1}: {exc}"
    except OSError as exc:
        result.error = f"read error after line {line_no - 1}: {exc}"
    if result.error:
        result.stopped_at = (tail or last).decode("utf-8", errors="backslashreplace").strip(" \t\r\n")
    if tail:
        pending.append(_lines(tail, line_no, result)[0])
    if pending:
        yield flush()


def is_vhost_port(token: str) -> bool:
    """Whether a token before the client is Apache's ``%v:%p``: a virtual host with its port.

    ``www.example.fi:443``, ``127.0.1.1:80`` and ``[::1]:80`` are; an address
    without a port (``85.76.1.10``, ``2001:db8::1``) or a comma-separated list
    is an X-Forwarded-For value (a bare host name, ``%v`` alone, is no address).
    """
    return _VHOST_PORT.fullmatch(token) is not None


def unescape_field(value: str | None) -> str | None:
    r"""Undo the escaping Apache and Nginx apply inside quoted fields.

    ``\"`` becomes ``"``, ``\\`` becomes ``\``, and runs of ``\xHH`` become the
    bytes they stand for, decoded as UTF-8 (invalid sequences become U+FFFD).
    """
    if value is None or "\\" not in value:
        return value
    raw = value.encode("utf-8", errors="surrogatepass")

    def replace(match: re.Match[bytes]) -> bytes:
        token = match.group(1)
        if token[:1] == b"x" and len(token) == 3:
            return bytes([int(token[1:], 16)])
        return _SIMPLE_ESCAPES.get(token, b"\\" + token)

    return _ESCAPE.sub(replace, raw).decode("utf-8", errors="replace")

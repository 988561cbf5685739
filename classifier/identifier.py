"""py3langid's language identifier with its two big tables read from disk as a text needs them, not held in memory.

Its model unpacks to 38 MiB of automaton transitions and 27 MiB of feature weights, which py3langid copies
into the process: a third of a daemon's memory, for the one ticket in twenty whose function words do not name
its language (classifier/text.py). A sample of 120 characters needs about 120 transitions and as many weight
rows, so the tables are unpacked and each entry or row is read from the unpacked file with pread (the kernel's
page cache keeps them fast). Mapping the file instead was tried: the kernel faults a mapped file in by whole
large folios, so one sample made 33 MiB resident and a few dozen the whole 65. Same arrays, same scores; texts
share most of their entries and rows, so the ones read lately are kept (up to `KEPT_BYTES` a table): 0.4 ms a
sample over 2,181 distinct tickets (0.7 with a pread for each), against 0.1 with the tables held whole.
Unpacking takes half a second, so the daemon keeps the unpacked file in its cache folder
(classifier.text.keep_language_tables_in) and later starts read it at once; without one (or when the folder
cannot be written) each process unpacks into an unlinked temporary file, as py3langid itself does.
"""

from __future__ import annotations

import logging
import lzma
import os
import shutil
import tempfile
import weakref
import zipfile
from array import array
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

log = logging.getLogger(__name__)
ON_DISK = ("ptc", "nextmove")  # the big ones; the rest is small and read as py3langid reads it
KEPT_BYTES = 4 << 20  # per table, the entries or rows read lately kept in memory: a pread each was 3/4 of a sample
_LITTLE = np.little_endian


class Unpacked:
    """The unlinked file the tables are read from, closed when the last table that reads it is gone."""

    def __init__(self, file: IO[bytes]) -> None:
        self.fd = file.fileno()
        weakref.finalize(self, file.close)


class Table:
    """A read-only array in a file, read with pread where indexed: `table[i]` is an entry of a 1-D table (an
    int, as a memoryview gives), `table[rows]` the rows of a 2-D one (numpy's fancy indexing, gathered)."""

    def __init__(self, file: Unpacked, offset: int, dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
        self.offset, self.dtype, self.shape = offset, dtype, shape
        self.file, self._fd = file, file.fd
        self._row = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        self._order: Any = "little" if dtype.byteorder in "<|" or (dtype.byteorder == "=" and _LITTLE) else "big"
        self._signed = dtype.kind == "i"
        self._kept: dict[int, Any] = {}  # the entries (ints) or rows (bytes) read lately: texts share most of theirs
        self._keep = max(1, KEPT_BYTES // max(self._row, 64))  # an entry costs ~64 bytes of dict and int objects

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            index = int(index)
            if len(self.shape) == 1 and self.dtype.kind in "iu":
                found = self._kept.get(index)
                if found is None:
                    found = int.from_bytes(self._read(index), self._order, signed=self._signed)
                    if len(self._kept) >= self._keep:
                        self._kept.clear()
                    self._kept[index] = found
                return found
            return np.frombuffer(self._read(index), self.dtype).reshape(self.shape[1:])[()]
        rows = np.asarray(index, dtype=np.intp).ravel().tolist()
        kept = self._kept
        if len(kept) + len(rows) > self._keep:
            kept.clear()
        data = b"".join([kept.get(row) or kept.setdefault(row, self._read(row)) for row in rows])
        return np.frombuffer(data, self.dtype).reshape((len(rows), *self.shape[1:]))

    def _read(self, index: int) -> bytes:
        """Entry or row `index`, read from the file."""
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"index {index} is out of a table of {self.shape[0]}")
        return os.pread(self._fd, self._row, self.offset + index * self._row)


def language_identifier(kept: Path | None = None) -> LanguageIdentifier:
    """py3langid's shipped model with normalised probabilities; its big tables read from disk where that works,
    unpacked into the folder `kept` once (and found there by later processes) when one is given."""
    path = Path(MODEL_FILE) if Path(MODEL_FILE).is_absolute() else Path(MODEL_DIR) / MODEL_FILE
    try:
        return _on_disk(path, kept)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:  # another py3langid layout
        log.debug("py3langid's tables cannot be read from disk (%s: %s): reading them into memory",
                  type(exc).__name__, exc)
        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _on_disk(path: Path, folder: Path | None) -> LanguageIdentifier:
    """The identifier, its big tables read from the npz unpacked in the kept folder (unpacked there first if
    needed), or else unpacked into an unlinked temporary file."""
    kept = _kept_file(path, folder) if folder is not None else None
    unpacked: IO[bytes] = kept.open("rb") if kept is not None else tempfile.TemporaryFile(suffix=".npz")
    try:  # the file is closed with the last table that reads it
        if kept is None:
            _unpack(path, unpacked)
        arrays = _members(unpacked)
    except BaseException:
        unpacked.close()
        raise
    row = array("H" if arrays["nextmove_row"].dtype.itemsize == 2 else "I", arrays["nextmove_row"].tobytes())
    # Each automaton state's feature, as a C array (an int each, read as a list's): a list of 104,583 ints was 4 MiB.
    output = array("i", np.asarray(arrays["out_feat"], dtype=np.int32).tobytes())
    return LanguageIdentifier(arrays["ptc"], np.asarray(arrays["pc"]), arrays["classes"].tolist(),
                              arrays["nextmove"], output, norm_probs=True, tk_row=row)


def _unpack(path: Path, target: IO[bytes]) -> None:
    with lzma.open(path) as packed:
        shutil.copyfileobj(packed, target, length=1 << 20)
    target.flush()


def _kept_file(path: Path, folder: Path) -> Path | None:
    """The unpacked tables in the kept folder, unpacked there first if needed; None when it cannot be written.

    The name carries py3langid's version and the packed file's size and time: an upgrade unpacks afresh (and
    removes the old file). A half-written file is never seen (written aside, then renamed), and two processes
    starting together each write their own copy and the last rename wins.
    """
    stat = path.stat()
    kept = folder / f"py3langid-{version('py3langid')}-{stat.st_size}-{stat.st_mtime_ns}.npz"
    if kept.is_file():
        return kept
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=kept.parent, prefix=".py3langid-", suffix=".part", delete=False) as part:
            try:
                _unpack(path, part)
            except BaseException:
                os.unlink(part.name)
                raise
        os.replace(part.name, kept)
        for stale in kept.parent.glob("py3langid-*.npz"):  # an upgrade's leftovers: 65 MiB each
            if stale != kept:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        log.info("py3langid's tables cannot be kept in %s (%s): unpacking them for this process only", kept.parent, exc)
        return None
    return kept


def _members(stream: IO[bytes]) -> dict[str, Any]:
    """Each .npy member of an uncompressed npz: the big ones as tables read where indexed, the others read."""
    found: dict[str, Any] = {}
    unpacked = Unpacked(stream)
    with zipfile.ZipFile(stream) as bundle:
        for info in bundle.infolist():
            name = info.filename.removesuffix(".npy")
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{info.filename} is compressed")
            stream.seek(info.header_offset)
            local = stream.read(30)  # the local header: its name and extra field lengths are at 26 and 28
            stream.seek(info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                        + int.from_bytes(local[28:30], "little"))
            major, _ = np.lib.format.read_magic(stream)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(stream)
            if dtype.hasobject or fortran:
                raise ValueError(f"{info.filename} is not a plain array")
            offset = stream.tell()
            if name in ON_DISK:
                found[name] = Table(unpacked, offset, dtype, shape)
            else:
                found[name] = np.frombuffer(stream.read(int(np.prod(shape)) * dtype.itemsize), dtype).reshape(shape)
    missing = {"ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat"} - set(found)
    if missing:
        raise KeyError(f"no {', '.join(sorted(missing))} in py3langid's model")
    return found

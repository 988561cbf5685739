"""py3langid's language identifier with its two big tables memory-mapped instead of read into memory.

Its model unpacks to 38 MiB of automaton transitions and 27 MiB of feature weights, which py3langid copies
into the process: a third of a daemon's memory, for the one ticket in twenty whose function words do not name
its language (classifier/text.py). A sample of 120 characters touches a few hundred transitions and weight
rows, so the tables are unpacked and mapped from the unpacked file: the pages a text touches are read in, the
rest stay on disk. Same arrays, same scores. Unpacking takes half a second, so the daemon keeps the unpacked file
in its cache folder (classifier.text.keep_language_tables_in) and later starts map it at once; without one (or when the folder cannot
be written) each process unpacks into an unlinked temporary file, as py3langid itself does.
"""

from __future__ import annotations

import logging
import lzma
import os
import shutil
import tempfile
import zipfile
from array import array
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

log = logging.getLogger(__name__)
MAPPED = ("ptc", "nextmove")  # the big ones; the rest is small and read as py3langid reads it


def language_identifier(kept: Path | None = None) -> LanguageIdentifier:
    """py3langid's shipped model with normalised probabilities; mapped tables where that works, unpacked into
    the folder `kept` once (and found there by later processes) when one is given."""
    path = Path(MODEL_FILE) if Path(MODEL_FILE).is_absolute() else Path(MODEL_DIR) / MODEL_FILE
    try:
        return _mapped(path, kept)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:  # another py3langid layout
        log.debug("py3langid's tables cannot be mapped (%s: %s): reading them into memory", type(exc).__name__, exc)
        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _mapped(path: Path, folder: Path | None) -> LanguageIdentifier:
    """The identifier, its npz unpacked (or found unpacked in the kept folder) and its big arrays mapped from it."""
    kept = _kept_file(path, folder) if folder is not None else None
    if kept is not None:
        with kept.open("rb") as unpacked:  # the maps keep the file open after this
            arrays = _members(unpacked)
    else:
        with tempfile.TemporaryFile(suffix=".npz") as unpacked:
            _unpack(path, unpacked)
            arrays = _members(unpacked)
    row = array("H" if arrays["nextmove_row"].dtype.itemsize == 2 else "I", arrays["nextmove_row"].tobytes())
    return LanguageIdentifier(arrays["ptc"], np.asarray(arrays["pc"]), arrays["classes"].tolist(),
                              memoryview(arrays["nextmove"]), np.asarray(arrays["out_feat"]).tolist(),
                              norm_probs=True, tk_row=row)


def _unpack(path: Path, target: IO[bytes]) -> None:
    with lzma.open(path) as packed:
        shutil.copyfileobj(packed, target, length=1 << 20)
    target.flush()


def _kept_file(path: Path, folder: Path) -> Path | None:
    """The unpacked tables in the kept folder, unpacked there first if needed; None when it cannot be written.

    The name carries py3langid's version and the packed file's size and time: an upgrade unpacks afresh. A
    half-written file is never seen (written aside, then renamed), and two processes starting together each
    write their own copy and the last rename wins.
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
    """Each .npy member of an uncompressed npz: the big ones as read-only maps, the others read."""
    found: dict[str, Any] = {}
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
            if name in MAPPED:
                found[name] = np.memmap(stream, dtype=dtype, mode="r", offset=offset, shape=shape)
            else:
                found[name] = np.frombuffer(stream.read(int(np.prod(shape)) * dtype.itemsize), dtype).reshape(shape)
    missing = {"ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat"} - set(found)
    if missing:
        raise KeyError(f"no {', '.join(sorted(missing))} in py3langid's model")
    return found

"""nltk's Snowball stemmers without `import nltk`.

nltk/__init__.py imports most of nltk, and through it scipy.stats and scikit-learn: 1.8 s and ~100 MiB for
the one pure-Python module deskbot uses (nltk/stem/snowball.py, which needs only nltk.redos, nltk.termsec
and four nltk.stem modules). The packages on its import path are put in sys.modules unexecuted while that
module loads, then every nltk module loaded here is taken out of sys.modules again: deskbot keeps a private
copy of the stemmer classes, and a later `import nltk` anywhere in the process runs nltk as usual. Same code,
same stems, so models and caches are unchanged.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_BARE_PACKAGES = ("nltk", "nltk.stem", "nltk.corpus")
_LOCK = threading.Lock()  # sys.modules is patched for a moment: one loader at a time


@functools.cache
def snowball_stemmer_class() -> Any:
    """nltk.stem.snowball.SnowballStemmer (the real one when nltk is already imported)."""
    with _LOCK:
        if "nltk" in sys.modules:
            return importlib.import_module("nltk.stem.snowball").SnowballStemmer
        before = set(sys.modules)
        try:
            for name in _BARE_PACKAGES:
                sys.modules[name] = _bare_package(name)
            return importlib.import_module("nltk.stem.snowball").SnowballStemmer
        finally:
            for name in set(sys.modules) - before:
                if name == "nltk" or name.startswith("nltk."):
                    del sys.modules[name]


def _bare_package(name: str) -> types.ModuleType:
    """The package `name` with its __path__ (so submodules are found) but its __init__.py not run."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"nltk is not installed ({name} not found): reinstall deskbot", name=name)
    module = importlib.util.module_from_spec(spec)
    if name == "nltk.corpus":
        # snowball.py imports the stop-word corpus reader, used only with ignore_stopwords=True (never here)
        module.stopwords = None  # type: ignore[attr-defined]
    return module

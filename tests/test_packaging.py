"""The wheel users install: everything deskbot reads at run time is inside it, and no generic top-level module."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_its_data_and_installs_no_generic_top_level_modules(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy: setuptools writes build/ beside the sources
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                                 ".pytest_cache", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
                   check=True, capture_output=True, cwd=tmp_path)
    [wheel] = tmp_path.glob("deskbot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()

    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {
        "bot", "connectors", "classifier"}
    shipped = {
        "bot/ops/demo/mail/": len(list((ROOT / "bot/ops/demo/mail").glob("*.eml"))),
        "classifier/corpus/": len(list((ROOT / "classifier/corpus").glob("*.csv"))),
        "bot/shipped/templates/": len(list((ROOT / "templates").glob("*.j2"))),
        "bot/log/migrations/versions/": len(list((ROOT / "bot/log/migrations/versions").glob("0*.py"))),
    }
    for folder, expected in shipped.items():
        found = [n for n in names if n.startswith(folder) and n.rsplit(".", 1)[-1] in ("eml", "csv", "j2", "py")
                 and not n.endswith("__init__.py")]
        assert len(found) == expected, folder
    assert "bot/shipped/rules/default.toml" in names and "bot/log/migrations/script.py.mako" in names
    assert "classifier/concepts.csv" in names
    assert {"bot/shipped/service/deskbot.service", "bot/shipped/service/Containerfile"} <= set(names)  # `deskbot service`
    # every module of the three packages, in every sub-folder (a folder missing from pyproject's list is not)
    modules = {p.relative_to(ROOT).as_posix() for top in ("bot", "connectors", "classifier")
               for p in (ROOT / top).rglob("*.py") if "corpus" not in p.parts}
    assert modules - set(names) == set()

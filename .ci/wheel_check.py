"""The built wheel, installed as a user would (run by ``nox -s wheel``).

    python .ci/wheel_check.py DIST_DIR CONSTRAINTS

1. ``twine check --strict`` on the sdist and the wheel; the wheel holds ``py.typed``.
2. A fresh venv with the wheel (not editable) and only its dependencies (NumPy, array-api-compat):
   no framework importable, ``py.typed`` installed, the ``unilosses`` entry point answers and
   ``python -m unilosses check`` passes there.
3. ``pip install "unilosses[torch]"`` keeps an installed torch release inside the declared range
   and replaces one below it. A torch release is several GB here, so the installed torch is a
   stand-in (its ``.dist-info`` only) and pip only resolves (``--dry-run --report``, offline,
   with no pip configuration: the machine's own cap on torch does not apply).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def run(*cmd: str | Path, cwd: str | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, check=check, text=True, capture_output=not check)


def fake_torch(site: Path, version: str) -> None:
    """A torch ``version`` that pip sees as installed (metadata only, nothing to import)."""
    for old in site.glob("torch-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = site / f"torch-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


def resolve(py: Path, wheel: str, report: Path) -> tuple[int, list[str], str]:
    """What ``pip install "<wheel>[torch]"`` would install (names==versions), offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    p = run(py, "-m", "pip", "install", "--dry-run", "--no-index", "--report", report,
            f"unilosses[torch] @ {Path(wheel).as_uri()}", cwd=str(report.parent), env=env, check=False)
    if p.returncode:
        return p.returncode, [], p.stderr
    got = json.loads(report.read_text())["install"]
    return 0, [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in got], ""


def main(dist: str, constraints: str) -> None:
    wheels, sdists = glob.glob(f"{dist}/*.whl"), glob.glob(f"{dist}/*.tar.gz")
    assert len(wheels) == 1 and len(sdists) == 1, (wheels, sdists)
    wheel, constraints = str(Path(wheels[0]).resolve()), str(Path(constraints).resolve())
    run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdists[0])
    assert "unilosses/py.typed" in zipfile.ZipFile(wheel).namelist(), "py.typed is not in the wheel"

    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        run(sys.executable, "-m", "venv", venv)
        py, bindir = venv / "bin" / "python", venv / "bin"
        run(py, "-m", "pip", "install", "-q", "-c", constraints, wheel)
        # from a folder without the source tree, so that the installed package is the one imported
        clean = {**os.environ, "PYTHONPATH": ""}
        run(py, "-c", (
            "import importlib.util, pathlib, unilosses\n"
            "assert 'site-packages' in unilosses.__file__, unilosses.__file__\n"
            "assert (pathlib.Path(unilosses.__file__).parent / 'py.typed').is_file(), 'no py.typed'\n"
            "fw = [m for m in ('torch', 'jax', 'tensorflow', 'dask', 'array_api_strict') if importlib.util.find_spec(m)]\n"
            "assert not fw, f'frameworks installed beside the wheel: {fw}'\n"
            "print('installed:', unilosses.__file__)\n"
        ), cwd=tmp, env=clean)
        run(bindir / "unilosses", "--help", cwd=tmp, env=clean)
        run(py, "-m", "unilosses", "check", cwd=tmp, env=clean)

        site = Path(glob.glob(f"{venv}/lib/python*/site-packages")[0])
        report = Path(tmp) / "report.json"
        for version in ("2.13.0", "2.15.0"):
            fake_torch(site, version)
            rc, install, err = resolve(py, wheel, report)
            assert rc == 0, f"with torch {version} installed, resolving unilosses[torch] failed:\n{err}"
            assert not any(i.lower().startswith("torch==") for i in install), (version, install)
            print(f"torch {version} installed: pip install unilosses[torch] keeps it (would install: {install or 'nothing'})")
        fake_torch(site, "2.12.1")
        rc, install, err = resolve(py, wheel, report)
        assert rc != 0 or any(i.lower().startswith("torch==") for i in install), (install, err)
        print("torch 2.12.1 installed (below the declared torch>=2.13): pip would replace it")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""The Procfile's processes start from what the package installs."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_procfile_declares_web_worker_release_and_smpp() -> None:
    processes = _procfile()
    assert set(processes) == {"web", "worker", "release", "smpp"}
    assert "smsgateway:create_app()" in processes["web"]
    assert "--with-scheduler" in processes["worker"]
    assert processes["release"] == "smsgateway db upgrade"


@pytest.mark.parametrize("process", ["worker", "release", "smpp"])
def test_procfile_commands_exist(process: str, tmp_path: Path) -> None:
    argv = shlex.split(_procfile()[process])
    bin_dir = Path(sys.executable).parent
    done = subprocess.run([str(bin_dir / argv[0]), *argv[1:-1], "--help"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT,
                          env={"SMSGATEWAY_INSTANCE_PATH": str(tmp_path), "PATH": str(bin_dir)})
    assert done.returncode == 0, done.stderr

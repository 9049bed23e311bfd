"""The tests' fake SMSC as a process of its own: ``_smsc.py LATENCY`` prints its port."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.smsc import FakeSmsc  # noqa: E402

if __name__ == "__main__":
    smsc = FakeSmsc().start()
    smsc.receipts = False
    smsc.latency = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    print(smsc.port, flush=True)
    threading.Event().wait()

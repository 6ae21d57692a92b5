import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]
MODULES = ["customer_service.desktop", "customer_service.desktop.geometry", "customer_service.desktop.text",
           "customer_service.desktop.imaging", "customer_service.desktop.unread", "customer_service.desktop.ocr",
           "customer_service.desktop.transcript", "customer_service.desktop.dedupe", "customer_service.desktop.drift",
           "customer_service.desktop.sender", "customer_service.desktop.poller", "customer_service.desktop.calibration",
           "customer_service.desktop.platform", "customer_service.desktop.platform.base",
           "customer_service.desktop.platform.x11", "customer_service.desktop.platform.windows"]


def test_the_desktop_core_imports_without_django():
    code = ("import importlib, sys\n"
            f"for name in {MODULES!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT)}, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

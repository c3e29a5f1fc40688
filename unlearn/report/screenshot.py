"""Render a report in headless Chromium (Debian package `chromium`) to a PNG screenshot (docs/img).

    python -m unlearn.report.screenshot demo_out/report.html docs/img/report.png
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from unlearn.core.errors import ConfigError

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        raise ConfigError("headless Chromium was not found; install it (apt-get install chromium)")
    return found


def screenshot(html: str | Path, png: str | Path, width: int = 1200, height: int = 2400) -> Path:
    png = Path(png).resolve()
    subprocess.run([chromium(), *FLAGS, f"--screenshot={png}", f"--window-size={width},{height}",
                    Path(html).resolve().as_uri()], check=True, capture_output=True, timeout=120)
    return png


if __name__ == "__main__":
    print(screenshot(sys.argv[1], sys.argv[2]))

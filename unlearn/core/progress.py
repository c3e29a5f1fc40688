"""Training progress: a tqdm bar on a terminal, a plain line every `every_s` seconds in logs.

A job whose stderr goes to a file (a cluster job, `nohup`, CI) gets lines like
``NPO_GDR: step 120/400 (30%) loss 1.2345, 0.41 s/step, 1 min 55 s left`` instead of thousands of
carriage-return bar redraws.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


def format_duration(seconds: float) -> str:
    """42 -> '42 s', 115 -> '1 min 55 s', 7500 -> '2 h 05 min', 90000 -> '1 d 1 h'."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def format_value(value: Any) -> str:
    """Numbers for a progress line: 1.23456 -> '1.2346', 1.2e-05 -> '1.200e-05', 7 -> '7'."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if hasattr(value, "item"):  # a 0-d tensor or numpy scalar
            return format_value(value.item())
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != 0 and not 1e-3 <= abs(value) < 1e5:
        return f"{value:.3e}"
    return f"{value:.4f}"


def format_rate(seconds_per_step: float, unit: str = "step") -> str:
    """'0.41 s/step', or '12.50 ms/step' below a hundredth of a second."""
    if seconds_per_step < 0.01:
        return f"{seconds_per_step * 1000:.2f} ms/{unit}"
    return f"{seconds_per_step:.2f} s/{unit}"


class Progress:
    """Progress of `total` steps: `.update(n=1, **postfix)`, `.close()`, or use as a context manager.

    On a terminal (`stream.isatty()`) it draws a tqdm bar. Otherwise it prints one line on the
    first update, then at most one every `every_s` seconds, and a last one on close (unless the
    last update was just printed, or there was none). Time left is the mean seconds per step so far times the steps
    left. `initial` is where a resumed run starts; `clock` is injectable for tests. With
    `enabled=False` (e.g. processes other than the main one) it prints nothing.
    """

    def __init__(self, total: int, desc: str, every_s: float = 30.0, stream: TextIO | None = None,
                 enabled: bool = True, clock: Callable[[], float] = time.monotonic, initial: int = 0,
                 unit: str = "step"):
        self.total, self.desc, self.every_s, self.unit = total, desc, every_s, unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled, self.clock = enabled, clock
        self.n = self.initial = initial
        self.postfix: dict[str, Any] = {}
        self.started = clock()
        self._last_print: float | None = None
        self._printed_n: int | None = None
        self._closed = False
        self._bar = self._make_bar() if enabled and _isatty(self.stream) else None

    def _make_bar(self) -> Any:
        """A tqdm bar on `stream` (imported only when needed)."""
        from tqdm.auto import tqdm

        return tqdm(total=self.total, initial=self.initial, desc=self.desc, file=self.stream,
                    dynamic_ncols=True, leave=False, disable=False)  # not TQDM_DISABLE, set for libraries

    def set_total(self, total: int) -> None:
        """The number of steps, once it is known (before the first update)."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Advance by `n` steps; `postfix` values (e.g. loss=1.23) are shown after the count."""
        if not self.enabled or self._closed:
            return
        self.n += n
        self.postfix.update(postfix)
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix({k: format_value(v) for k, v in self.postfix.items()}, refresh=False)
            self._bar.update(n)
            return
        now = self.clock()
        if self._last_print is None or now - self._last_print >= self.every_s:
            self._print(now)

    def line(self, now: float | None = None) -> str:
        """The progress line for the current state, e.g.
        'NPO_GDR: step 120/400 (30%) loss 1.2345, 0.41 s/step, 1 min 55 s left'."""
        now = self.clock() if now is None else now
        pct = int(100 * self.n / self.total) if self.total else 100
        head = f"{self.desc}: {self.unit} {self.n}/{self.total} ({pct}%)"
        if self.postfix:
            head += " " + ", ".join(f"{k} {format_value(v)}" for k, v in self.postfix.items())
        parts = [head]
        done = self.n - self.initial
        elapsed = now - self.started
        if done > 0:
            per_step = elapsed / done
            parts.append(format_rate(per_step, self.unit))
            if self.n < self.total:
                parts.append(f"{format_duration(per_step * (self.total - self.n))} left")
        if self.n >= self.total:
            parts.append(f"done in {format_duration(elapsed)}")
        return ", ".join(parts)

    def _print(self, now: float) -> None:
        """Write the current line to the stream and remember when."""
        try:
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not stop training
            pass
        self._last_print, self._printed_n = now, self.n

    def close(self) -> None:
        """Finish: close the bar, or print the last line if it was not printed yet."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        elif self._printed_n != self.n and self.n != self.initial:
            self._print(self.clock())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _isatty(stream: Any) -> bool:
    """stream.isatty(), False if the stream has none or it fails."""
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False

"""Progress lines for non-terminal streams: exact text, interval, final line, disabled, tqdm on a TTY."""

from __future__ import annotations

import io

from unlearn.core.progress import Progress, format_duration, format_rate, format_value


class FakeClock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_formatting():
    assert format_duration(0) == "0 s"
    assert format_duration(42.4) == "42 s"
    assert format_duration(115) == "1 min 55 s"
    assert format_duration(7500) == "2 h 05 min"
    assert format_duration(90000) == "1 d 1 h"
    assert format_value(1.23456) == "1.2346"
    assert format_value(0.0) == "0.0000"
    assert format_value(1.2e-5) == "1.200e-05"
    assert format_value(7) == "7"
    assert format_value("x") == "x"
    assert format_rate(0.41) == "0.41 s/step"
    assert format_rate(0.0125) == "0.01 s/step"
    assert format_rate(0.005) == "5.00 ms/step"


def test_lines_interval_and_final_line():
    clock, out = FakeClock(), io.StringIO()
    with Progress(100, "GA", every_s=10, stream=out, clock=clock) as bar:
        for i in range(1, 101):
            clock.t = 0.25 * i
            bar.update(loss=2.0 - i / 100)
    assert lines(out) == [
        "GA: step 1/100 (1%) loss 1.9900, 0.25 s/step, 25 s left",
        "GA: step 41/100 (41%) loss 1.5900, 0.25 s/step, 15 s left",
        "GA: step 81/100 (81%) loss 1.1900, 0.25 s/step, 5 s left",
        "GA: step 100/100 (100%) loss 1.0000, 0.25 s/step, done in 25 s",
    ]


def test_example_line_and_resume():
    clock, out = FakeClock(), io.StringIO()
    bar = Progress(400, "NPO_GDR", stream=out, clock=clock, initial=100)
    clock.t = 8.2
    bar.update(20, loss=1.23454)
    assert lines(out) == ["NPO_GDR: step 120/400 (30%) loss 1.2345, 0.41 s/step, 1 min 55 s left"]


def test_interval_respected_with_irregular_steps():
    clock, out = FakeClock(), io.StringIO()
    bar = Progress(10, "FT", every_s=30, stream=out, clock=clock)
    for t in (1, 20, 30.9, 31, 45, 60.9, 61, 62):
        clock.t = t
        bar.update()
    # printed at t=1 (first), t=31 (>= 30 s later), t=61; not at 20, 30.9, 45, 60.9, 62
    assert [line.split(",")[0] for line in lines(out)] == ["FT: step 1/10 (10%)", "FT: step 4/10 (40%)",
                                                           "FT: step 7/10 (70%)"]
    clock.t = 70
    bar.close()
    assert lines(out)[-1] == "FT: step 8/10 (80%), 8.75 s/step, 18 s left"
    bar.close()  # a second close prints nothing more
    bar.update()  # updates after close are ignored
    assert len(lines(out)) == 4


def test_close_does_not_repeat_a_printed_line():
    clock, out = FakeClock(), io.StringIO()
    bar = Progress(2, "GA", stream=out, clock=clock)
    clock.t = 1
    bar.update(2, loss=0.5)
    bar.close()
    assert lines(out) == ["GA: step 2/2 (100%) loss 0.5000, 0.50 s/step, done in 1 s"]


def test_no_update_no_line():
    out = io.StringIO()
    Progress(5, "GA", stream=out, clock=FakeClock()).close()
    assert out.getvalue() == ""


def test_disabled_prints_nothing():
    clock, out = FakeClock(), io.StringIO()
    with Progress(3, "GA", every_s=0, stream=out, clock=clock, enabled=False) as bar:
        for i in range(3):
            clock.t = i + 1
            bar.update(loss=1.0)
    assert out.getvalue() == ""


def test_terminal_gets_a_tqdm_bar():
    out = FakeTTY()
    with Progress(3, "GA", stream=out) as bar:
        assert bar._bar is not None
        bar.update(loss=1.5)
        bar.update(2, loss=0.25)
    assert "GA" in out.getvalue()
    assert "step 3/3" not in out.getvalue()  # bar output, not log lines

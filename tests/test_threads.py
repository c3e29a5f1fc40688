"""The thread policy: --threads / UNLEARN_THREADS, a user's OMP_NUM_THREADS, else the cores the load leaves."""

from __future__ import annotations

import pytest

from unlearn.core import threads
from unlearn.core.errors import ConfigError


@pytest.mark.parametrize("cores, busy, expected", [(2, 0.1, 2), (2, 1.0, 1), (2, 0.6, 1), (2, 0.4, 2),
                                                   (2, 3.5, 1), (8, 2.4, 6), (1, 0.0, 1)])
def test_auto_takes_the_cores_other_work_leaves_free(cores, busy, expected):
    assert threads.auto_threads(cores, busy) == expected


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("UNLEARN_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.setenv(name, "")  # restored (or removed) after the test
        monkeypatch.delenv(name)
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.setattr(threads, "busy_cores", lambda: 1.2)
    return monkeypatch


def test_the_option_wins_then_the_variable_then_omp_then_auto(clean_env):
    assert threads.choose_threads(None) == (3, "auto: 4 cores, 1.2 busy with other work at start")
    clean_env.setenv("OMP_NUM_THREADS", "2")
    assert threads.choose_threads(None) == (2, "OMP_NUM_THREADS=2 (set before the command)")
    clean_env.setenv("UNLEARN_THREADS", "auto")
    assert threads.choose_threads(None) == (3, "UNLEARN_THREADS=auto: 4 cores, 1.2 busy with other work at start")
    clean_env.setenv("UNLEARN_THREADS", "1")
    assert threads.choose_threads(None) == (1, "UNLEARN_THREADS=1")
    assert threads.choose_threads("5") == (5, "--threads=5")


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5", ""])
def test_a_bad_count_is_a_one_line_error(text, clean_env):
    clean_env.setenv("UNLEARN_THREADS", text or " ")
    with pytest.raises(ConfigError, match="UNLEARN_THREADS: .* is not a number of threads"):
        threads.choose_threads(None)


def test_applied_threads_reach_torch_and_the_record(clean_env):
    import torch

    before = torch.get_num_threads()
    try:
        assert threads.apply_threads("1") == (1, "--threads=1")
        assert torch.get_num_threads() == 1
        assert threads.thread_record() == {"threads": 1, "threads_chosen_by": "--threads=1"}
    finally:
        torch.set_num_threads(before)



def test_busy_cores_from_two_readings():
    # cpu0: 100 ticks passed, 10 of them idle -> 0.9 busy; cpu1: 100 passed, 90 idle -> 0.1 busy
    first = {0: (100, 50), 1: (100, 100)}
    second = {0: (200, 60), 1: (200, 190)}
    assert threads.busy_between(first, second) == pytest.approx(1.0)
    assert threads.busy_between(first, first) == 0.0  # no tick passed: nothing known to be busy
    if threads.Path("/proc/stat").is_file():
        assert 0.0 <= threads.busy_cores(0.05) <= len(threads.os.sched_getaffinity(0)) + 1e-9

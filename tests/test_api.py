"""The public API: certpin.__all__ is sorted and every name in it exists."""

from __future__ import annotations

import certpin


def test_all_is_sorted() -> None:
    assert certpin.__all__ == sorted(certpin.__all__)


def test_every_name_exists() -> None:
    missing = [name for name in certpin.__all__ if not hasattr(certpin, name)]
    assert missing == []


def test_policy_and_verify_names_are_exported() -> None:
    for name in ("PinSet", "PinPolicy", "check", "Verdict", "Outcome", "PinEvent"):
        assert name in certpin.__all__


def test_importing_certpin_registers_no_hook_and_starts_no_thread() -> None:
    # regression (issue 15): importing the pure core registered the report thread's atexit and
    # fork hooks through the package __init__; they are registered by the first sender now.
    import subprocess
    import sys

    code = (
        "import atexit, threading, logging, concurrent.futures, http.client, ssl\n"
        "n, t = atexit._ncallbacks(), threading.active_count()\n"
        "import certpin, certpin.verify, certpin.report_delivery, certpin.reporter\n"
        "assert atexit._ncallbacks() == n, 'atexit hook registered at import'\n"
        "assert threading.active_count() == t, 'thread started at import'\n"
        "assert not certpin.report_delivery._Default.hooks_registered\n"
        "print('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "clean", out.stderr

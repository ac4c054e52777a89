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

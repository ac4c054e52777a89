"""Health reports as OpenMetrics 1.0 text (``certpin check --format openmetrics``).

Gauge families only (no ``info``, ``stateset`` or ``# UNIT``), so that every Prometheus text
parser reads it, node exporter's textfile collector included; the text ends in ``# EOF``. It
is written by ``prometheus_client``'s own OpenMetrics exposition (the ``metrics`` extra), not by
hand. Per host and port (labels ``host``, ``port``, ``pattern``):

=====================================  =========================================================
family                                 value
=====================================  =========================================================
``certpin_status``                     0 ok, 1 warn, 2 error
``certpin_pin_matched``                1 when a pin of the set matched the verified chain
``certpin_backup_pin_matched``         1 when only a backup pin matched
``certpin_leaf_expiry_days``           days until the leaf's end of validity (negative: past);
                                       absent when no certificate was seen
``certpin_pin_set_expiry_days``        days until the pin set's expiry; absent when it has none
=====================================  =========================================================
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ..errors import CertpinError
from .model import HostReport

__all__ = ["openmetrics_text"]

_STATUS = {"ok": 0, "warn": 1, "error": 2}
_DAY = 86400.0


def openmetrics_text(reports: Sequence[HostReport], now: datetime) -> str:
    """The reports as OpenMetrics text, ending in ``# EOF``; expiries counted from ``now``.

    Raises:
        CertpinError: ``prometheus_client`` is not installed (``pip install 'certpin[metrics]'``).
    """
    try:
        from prometheus_client import CollectorRegistry
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.openmetrics.exposition import generate_latest
    except ImportError:
        raise CertpinError(
            "--format openmetrics needs prometheus_client: pip install 'certpin[metrics]'"
        ) from None

    labels = ["host", "port", "pattern"]

    class _Collector:
        def collect(self) -> Iterator[Any]:
            families = {
                "status": GaugeMetricFamily(
                    "certpin_status", "certpin check status: 0 ok, 1 warn, 2 error",
                    labels=labels),
                "matched": GaugeMetricFamily(
                    "certpin_pin_matched", "1 if a pin matched the verified chain",
                    labels=labels),
                "backup": GaugeMetricFamily(
                    "certpin_backup_pin_matched", "1 if only a backup pin matched",
                    labels=labels),
                "leaf": GaugeMetricFamily(
                    "certpin_leaf_expiry_days", "days until the leaf certificate expires",
                    labels=labels),
                "set": GaugeMetricFamily(
                    "certpin_pin_set_expiry_days", "days until the pin set expires",
                    labels=labels),
            }
            for r in reports:
                values = [r.host, str(r.port), r.pattern or ""]
                matched = r.matched_pin is not None
                families["status"].add_metric(values, _STATUS[r.status.value])
                families["matched"].add_metric(values, 1 if matched else 0)
                backup = matched and bool(r.matches) and all(m.backup for m in r.matches)
                families["backup"].add_metric(values, 1 if backup else 0)
                if r.leaf_not_after is not None:
                    days = (r.leaf_not_after - now).total_seconds() / _DAY
                    families["leaf"].add_metric(values, round(days, 3))
                if r.pin_set_expires is not None:
                    days = (r.pin_set_expires - now).total_seconds() / _DAY
                    families["set"].add_metric(values, round(days, 3))
            yield from families.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return bytes(generate_latest(registry)).decode("utf-8")  # type: ignore[no-untyped-call]

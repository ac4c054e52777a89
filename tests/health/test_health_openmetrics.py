"""``certpin check --format openmetrics``: parsed with prometheus_client's OpenMetrics parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as prometheus_text_families

from certpin.cli import main
from certpin.config import dump_policy
from certpin.policy import PinPolicy, PinSet
from support.health import closed_port, fresh_pin, leaf_pin, write_cafile


def test_openmetrics_parses_with_gauges_per_host(tmp_path: Path, capsys, server, server_cert,
                                                 ca: trustme.CA) -> None:
    cafile = write_cafile(ca, tmp_path)
    expires = datetime.now(UTC) + timedelta(days=100)
    good = PinSet([fresh_pin()], backup_pins=[leaf_pin(server_cert)], expires=expires)
    policy = PinPolicy({"127.0.0.1": good, "localhost": PinSet([fresh_pin(), fresh_pin()])})
    path = tmp_path / "p.toml"
    dump_policy(policy, path)
    code = main(["check", str(path), "--format", "openmetrics", "--cafile", cafile,
                 "--host", f"127.0.0.1:{server.port}", "--host", f"localhost:{closed_port()}"])
    out = capsys.readouterr().out
    assert code == 2  # the closed port is an error
    assert out.endswith("# EOF\n")
    assert "# UNIT" not in out and "info" not in out.split() and "stateset" not in out
    families = {f.name: f for f in text_string_to_metric_families(out)}
    assert set(families) == {"certpin_status", "certpin_pin_matched",
                             "certpin_backup_pin_matched", "certpin_leaf_expiry_days",
                             "certpin_pin_set_expiry_days"}
    assert {f.type for f in families.values()} == {"gauge"}

    def value(name: str, host: str) -> float:
        [s] = [s for s in families[name].samples if s.labels["host"] == host]
        return float(s.value)

    assert s_labels(families["certpin_status"], "127.0.0.1") == {
        "host": "127.0.0.1", "port": str(server.port), "pattern": "127.0.0.1"}
    assert value("certpin_status", "127.0.0.1") == 1  # only the backup pin matched: warn
    assert value("certpin_pin_matched", "127.0.0.1") == 1
    assert value("certpin_backup_pin_matched", "127.0.0.1") == 1
    assert 99 < value("certpin_pin_set_expiry_days", "127.0.0.1") <= 100
    assert value("certpin_leaf_expiry_days", "127.0.0.1") > 30
    assert value("certpin_status", "localhost") == 2
    assert value("certpin_pin_matched", "localhost") == 0
    # the Prometheus text format parser (as the textfile collector) reads it too
    classic = {f.name for f in prometheus_text_families(out)}  # "# EOF" is a comment there
    assert "certpin_status" in classic


def s_labels(family, host: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    [s] = [s for s in family.samples if s.labels["host"] == host]
    return dict(s.labels)

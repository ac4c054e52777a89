"""Property: import(export(p)) == p for every format that can hold p, and an export refuses
exactly the policies a format cannot hold (computed here independently of the exporters)."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from certpin import ConfigError
from certpin.config import (
    IMPORT_FORMATS,
    ExportError,
    dumps_policy,
    export_policy,
    import_policy,
    loads_policy,
)
from certpin.pins import Pin
from certpin.policy import PinPolicy, PinSet

LABELS = ["a", "b", "api", "x"]


@st.composite
def patterns(draw: st.DrawFn) -> tuple[str, bool]:
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=0, max_size=2))
    name = ".".join([*labels, "test"])
    kind = draw(st.sampled_from(["exact", "wild", "sub"]))
    if kind == "wild":
        return "*." + name, False
    return name, kind == "sub"


pin_st = st.builds(Pin, st.sampled_from(["spki", "spki", "spki", "cert"]),
                   st.binary(min_size=32, max_size=32))
expires_st = st.one_of(
    st.none(),
    st.dates(min_value=datetime(2020, 1, 1).date(), max_value=datetime(2040, 1, 1).date()).map(
        lambda d: datetime(d.year, d.month, d.day, tzinfo=UTC)),
    st.integers(0, 20 * 365 * 86400).map(
        lambda s: datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=s)),
)
uris_st = st.lists(st.sampled_from(["https://r.test/a", "https://r.test/b", "http://r.test/"]),
                   max_size=2, unique=True)


@st.composite
def pin_sets(draw: st.DrawFn, include_subdomains: bool, simple: bool) -> PinSet:
    """A pin set; ``simple`` ones mostly use only what every format can say."""
    some = st.booleans() if not simple else st.sampled_from([False] * 5 + [True])
    pins = pin_st if not simple else st.builds(Pin, st.just("spki"),
                                               st.binary(min_size=32, max_size=32))
    all_pins = draw(st.lists(pins, min_size=1, max_size=4, unique=True))
    n_main = draw(st.integers(1, len(all_pins)))
    single = len(all_pins) < 2
    return PinSet(
        all_pins[:n_main], backup_pins=all_pins[n_main:],
        include_subdomains=include_subdomains,
        expires=draw(expires_st) if draw(some) else None,
        enforce=not draw(some), report_uris=draw(uris_st) if draw(some) else (),
        allow_single_pin=single or draw(st.booleans()),
    )


@st.composite
def policies(draw: st.DrawFn) -> PinPolicy:
    simple = draw(st.booleans())
    pats = draw(st.lists(patterns(), min_size=1, max_size=4, unique_by=lambda p: p[0]))
    sets = {name: draw(pin_sets(sub, simple)) for name, sub in pats}
    modes = st.sampled_from(["allow", "reject"] if not simple else ["allow"] * 5 + ["reject"])
    return PinPolicy(sets, unknown_hosts=draw(modes), expired=draw(modes))


def _midnight(d: datetime | None) -> bool:
    return d is None or (d.hour, d.minute, d.second, d.microsecond) == (0, 0, 0, 0)


def _spki(ps: PinSet) -> bool:
    return all(p.kind == "spki" for p in ps.all_pins)


def _okhttp_matches(pattern: str, sub: bool, host: str) -> bool:
    """OkHttp's CertificatePinner rule for "host", "*.host" and "**.host" patterns."""
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return rest == pattern[2:] and bool(head)
    return host == pattern or (sub and host.endswith("." + pattern))


HOSTS = sorted({".".join([*labels, "test"]) for labels in (
    [[], *[[a] for a in [*LABELS, "zz"]],
     *[[a, b] for a in [*LABELS, "zz"] for b in LABELS],
     *[[a, b, c] for a in ("zz", "a") for b in LABELS for c in LABELS]]
)})


def _okhttp_widens(p: PinPolicy) -> bool:
    """Would OkHttp (any matching pattern's pins) accept other pins than certpin for a host?"""
    for host in HOSTS:
        found = p.match(host)
        if found is None:
            continue
        union = {pin for pat, ps in p.pin_sets.items()
                 if _okhttp_matches(pat, ps.include_subdomains, host) for pin in ps.all_pins}
        if union != set(found[1].all_pins):
            return True
    return False


def can_hold(fmt: str, p: PinPolicy) -> bool:
    sets = list(p.pin_sets.items())
    any_expiry = any(ps.expires for _, ps in sets)
    if fmt == "android":
        return p.unknown_hosts == "allow" and not (p.expired == "reject" and any_expiry) and all(
            ps.enforce and not pat.startswith("*.") and _spki(ps) and not ps.report_uris
            and (ps.expires is None or android_expires(ps.expires) is not None)
            for pat, ps in sets)
    if fmt == "trustkit":
        # Every name here ends in .test, which has no public suffix in TrustKit's snapshot:
        # TrustKit throws at start-up (parse_configuration.m line 72), so the export refuses.
        # tests/config/test_config_trustkit_rules.py round-trips registrable names.
        return False
    if fmt == "okhttp":  # OkHttp 3, the default: no '**.', and '*.x' also matches x there
        return p.unknown_hosts == "allow" and all(
            ps.enforce and ps.expires is None and _spki(ps) and not ps.report_uris
            and not ps.include_subdomains and not (pat.startswith("*.") and "." not in pat[2:])
            for pat, ps in sets) and not _okhttp_widens(p)
    raise AssertionError(fmt)


def android_expires(expires: datetime | None) -> datetime | None:
    """What an expiry comes back as through Android's expiration="D" (local midnight, from
    UTC+14 to UTC-12): D is the last date whose UTC-12 midnight, plus the millisecond Android
    still pins, is not after the expiry; import takes D 00:00 at UTC+14."""
    if expires is None:
        return None
    day = (expires - timedelta(hours=12, milliseconds=1)).date()
    if day.year < 1583:  # Julian in Java: not written (an ExportError)
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=14)


def mobile_view(p: PinPolicy, fmt: str = "") -> PinPolicy:
    """What a mobile format gives back: backup pins are pins; one-pin sets flagged as such."""
    return PinPolicy({
        pat: PinSet(ps.all_pins, include_subdomains=ps.include_subdomains,
                    expires=android_expires(ps.expires) if fmt == "android" else ps.expires,
                    enforce=ps.enforce, report_uris=ps.report_uris,
                    allow_single_pin=len(ps.all_pins) < 2)
        for pat, ps in p.pin_sets.items()
    })


@settings(max_examples=300, deadline=None)
@given(policies())
def test_policy_files_round_trip(p: PinPolicy) -> None:
    for fmt in ("toml", "json"):
        assert loads_policy(dumps_policy(p, fmt), fmt) == p  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(policies())
def test_mobile_formats_round_trip_or_refuse(p: PinPolicy) -> None:
    for fmt in ("android", "trustkit", "okhttp"):
        if can_hold(fmt, p):
            text = export_policy(p, fmt).text
            assert import_policy(text, fmt) == mobile_view(p, fmt), fmt
        else:
            try:
                export_policy(p, fmt)
            except ExportError as exc:
                assert exc.problems
            else:
                raise AssertionError(f"{fmt} exported a policy it cannot hold: {p!r}")


@settings(max_examples=300, deadline=None)
@given(policies())
def test_single_host_formats_round_trip_or_refuse(p: PinPolicy) -> None:
    for pattern, ps in p.pin_sets.items():
        hpkp_ok = (not pattern.startswith("*.") and _spki(ps) and len(ps.all_pins) >= 2
                   and ps.expires is None and len(ps.report_uris) <= 1)
        curl_ok = (ps.enforce and _spki(ps) and not ps.include_subdomains
                   and ps.expires is None and not ps.report_uris)
        for fmt, ok in (("hpkp", hpkp_ok), ("curl", curl_ok)):
            try:
                result = export_policy(p, fmt, host=pattern)
            except ExportError:
                assert not ok, (fmt, pattern, ps)
                continue
            assert ok, (fmt, pattern, ps)
            back = import_policy(result.text, fmt, host=pattern,
                                 report_only=not ps.enforce)
            expected = PinSet(ps.all_pins, include_subdomains=ps.include_subdomains,
                              enforce=ps.enforce, report_uris=ps.report_uris,
                              allow_single_pin=len(ps.all_pins) < 2)
            assert back == PinPolicy({pattern: expected}), fmt


# --- parsers never fail with anything but ConfigError --------------------------------------

FIX = Path(__file__).parent.parent / "fixtures" / "config"
SEEDS = {
    "android": (FIX / "network_security_config.xml").read_text(),
    "trustkit": (FIX / "Info.plist").read_text(),
    "okhttp": (FIX / "pinner.kt").read_text(),
    "hpkp": (FIX / "hpkp.txt").read_text(),
    "curl": (FIX / "curl.txt").read_text(),
}
_SEED_POLICY = import_policy(SEEDS["android"], "android")
SEEDS["toml"] = dumps_policy(_SEED_POLICY, "toml")
SEEDS["json"] = dumps_policy(_SEED_POLICY, "json")


def _parse_all(data: str | bytes) -> None:
    for fmt in IMPORT_FORMATS:
        with contextlib.suppress(ConfigError):
            import_policy(data, fmt, host="a.test")
    for ffmt in ("toml", "json"):
        with contextlib.suppress(ConfigError):
            loads_policy(data, ffmt)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400)))
def test_parsers_raise_only_config_error_on_noise(data: str | bytes) -> None:
    _parse_all(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_parsers_raise_only_config_error_on_mutants(fmt: str, data: st.DataObject) -> None:
    seed = SEEDS[fmt]
    start = data.draw(st.integers(0, len(seed)))
    end = data.draw(st.integers(start, min(len(seed), start + 40)))
    insert = data.draw(st.text(alphabet='<>/="\\;&#x0123456789abcdefABCDEF-_. \n\t*', max_size=20))
    mutant = seed[:start] + insert + seed[end:]
    with contextlib.suppress(ConfigError):
        if fmt in ("toml", "json"):
            loads_policy(mutant, fmt)  # type: ignore[arg-type]
        else:
            import_policy(mutant, fmt, host="a.test")


# --- the Swift delegate's lookup tables mirror PinPolicy.match ------------------------------


def _swift_tables(text: str) -> dict[str, dict[str, tuple[set[str], bool]]]:
    tables: dict[str, dict[str, tuple[set[str], bool]]] = {}
    for name in ("exact", "oneLabelWildcard", "includingSubdomains"):
        m = re.search(rf"private static let {name}: \[String: PinSet\] = \[\n(.*?)\n    \]\n",
                      text, re.S)
        entries: dict[str, tuple[set[str], bool]] = {}
        if m:
            rows = re.findall(r'^        "([^"]+)": PinSet\((.*?)\n        \),', m.group(1),
                              re.S | re.M)
            for key, body in rows:
                entries[key] = (set(re.findall(r'"([A-Za-z0-9+/=]{44})"', body)),
                                "enforce: true" in body)
        tables[name] = entries
    return tables


def _swift_lookup(tables: dict[str, dict[str, tuple[set[str], bool]]],
                  host: str) -> tuple[set[str], bool] | None:
    """The generated Swift ``pinSet(for:)``, step by step."""
    if host in tables["exact"]:
        return tables["exact"][host]
    labels = host.split(".")
    first = True
    while len(labels) > 1:
        labels = labels[1:]
        parent = ".".join(labels)
        if first and parent in tables["oneLabelWildcard"]:
            return tables["oneLabelWildcard"][parent]
        if parent in tables["includingSubdomains"]:
            return tables["includingSubdomains"][parent]
        first = False
    return None


@settings(max_examples=200, deadline=None)
@given(policies())
def test_swift_delegate_lookup_matches_policy(p: PinPolicy) -> None:
    tables = _swift_tables(export_policy(p, "swift-delegate", lossy=True).text)
    for host in HOSTS:
        found = p.match(host)
        got = _swift_lookup(tables, host)
        if found is None:
            assert got is None, host
        else:
            assert got == ({pin.base64 for pin in found[1].all_pins}, found[1].enforce), host

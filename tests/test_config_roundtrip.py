"""Property: import(export(p)) == p for every format that can hold p, and an export refuses
exactly the policies a format cannot hold (computed here independently of the exporters)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from certpin.config import ExportError, dumps_policy, export_policy, import_policy, loads_policy
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
            and _midnight(ps.expires) for pat, ps in sets)
    if fmt == "trustkit":
        return p.unknown_hosts == "allow" and not (p.expired == "reject" and any_expiry) and all(
            not pat.startswith("*.") and _spki(ps) and len(ps.all_pins) >= 2
            and _midnight(ps.expires) for pat, ps in sets)
    if fmt == "okhttp":
        return p.unknown_hosts == "allow" and all(
            ps.enforce and ps.expires is None and _spki(ps) and not ps.report_uris
            for _, ps in sets) and not _okhttp_widens(p)
    raise AssertionError(fmt)


def mobile_view(p: PinPolicy) -> PinPolicy:
    """What a mobile format gives back: backup pins are pins; one-pin sets flagged as such."""
    return PinPolicy({
        pat: PinSet(ps.all_pins, include_subdomains=ps.include_subdomains, expires=ps.expires,
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
            assert import_policy(text, fmt) == mobile_view(p), fmt
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

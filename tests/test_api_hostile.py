"""Every public function, fed hostile values of the right types, raises only what it documents.

The functions are enumerated from ``certpin.__all__`` and ``certpin.config.__all__``; the
exceptions each may raise are read from the ``Raises:`` section of its docstring, so a new public
function without one, or an undocumented exception, fails here (issue 16).
"""

from __future__ import annotations

import builtins
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import certpin
import certpin.config
from certpin.config._common import MAX_INPUT_BYTES

K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="

#: A hostile host name that IDNA 2003 nameprep turns into a broken "xn--" label (issue 16 item 1;
#: it raised UnicodeError): now a PolicyError like any other bad host.
BROKEN_A_LABEL = "\uff58\uff4e--b-b\uff5a.test"
HOSTILE_STR = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfff.test", "\u202e", "\n\r\t", "*", "*.", "**",
    "[::1", "[", "9" * 5000, "a" * 100_000, BROKEN_A_LABEL, "xn--", "é" * 300,
    "sha256/" + "A" * 43 + "=", "<plist>", "{" * 3000, "[" * 3000, "-1", "1e9999", "nan",
    "..", "a..b", "a.test:99999", "https://x/\x1b[2J", "x\x00.toml", "\x00.json", "\ud800.toml",
]
HOSTILE_BYTES = [
    b"", b"\x00", b"\xff\xfe\x00", b"\xed\xa0\x80", b"-----BEGIN CERTIFICATE-----\n",
    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", b"\x30\x80" * 1000,
    b"9" * 5000, b"[" * 100_000, b"<" * 10_000, b"x" * (MAX_INPUT_BYTES + 1),
    b'<?xml version="1.0" encoding="utf-4"?><plist/>',
    b"<plist>" + b"<array>" * 1000 + b"</array>" * 1000 + b"</plist>",
]
HOSTILE_TEXT: list[str | bytes] = [*HOSTILE_STR, *HOSTILE_BYTES]


def _policy() -> certpin.PinPolicy:
    return certpin.PinPolicy({"a.example": certpin.PinSet([K1, K2])})


def _documented(func: Any) -> tuple[type[BaseException], ...]:
    doc = inspect.getdoc(func) or ""
    if inspect.isclass(func):
        doc += "\n" + (inspect.getdoc(func.__init__) or "")
    out: list[type[BaseException]] = []
    for block in re.findall(r"Raises:\n((?:    .*\n?|\n)*)", doc):
        for name in re.findall(r"^    (\w+):", block, re.M):
            exc = (getattr(certpin, name, None) or getattr(certpin.config, name, None)
                   or getattr(builtins, name, None))
            if exc is None:
                from certpin import backup

                exc = getattr(backup, name)
            out.append(exc)
    return tuple(out)


Call = tuple[str, Callable[[Any], object]]  # ("str" | "bytes" | "text", call of one value)


def _calls(tmp: Path) -> dict[str, list[Call]]:
    """Per public name: calls that take one hostile value of the parameter's type."""
    c = certpin.config
    p = _policy()
    return {
        "parse_pin": [("str", certpin.parse_pin)],
        "load_certificates": [("bytes", certpin.load_certificates)],
        "spki_pin": [("bytes", certpin.spki_pin)],
        "cert_pin": [("bytes", certpin.cert_pin)],
        "Pin": [("bytes", lambda v: certpin.Pin("spki", v)),
                ("str", lambda v: certpin.Pin(v, b"0" * 32))],
        "PinSet": [("str", lambda v: certpin.PinSet([v, K1])),
                   ("str", lambda v: certpin.PinSet([K1, K2], expires=v)),
                   ("str", lambda v: certpin.PinSet([K1, K2], report_uris=[v])),
                   ("str", lambda v: certpin.PinSet([K1, K2], roles={v: "leaf"})),
                   ("str", lambda v: certpin.PinSet([K1, K2], roles={K1: v}))],
        "PinPolicy": [("str", lambda v: certpin.PinPolicy({v: certpin.PinSet([K1, K2])}))],
        "loads_policy": [("text", lambda v: c.loads_policy(v, "toml")),
                         ("text", lambda v: c.loads_policy(v, "json")),
                         ("str", lambda v: c.loads_policy("", v))],
        "load_policy": [("text", lambda v: c.load_policy(_file(tmp, v, ".toml"))),
                        ("text", lambda v: c.load_policy(_file(tmp, v, ".json"))),
                        ("str", c.load_policy)],
        "dumps_policy": [("str", lambda v: c.dumps_policy(p, v))],
        "dump_policy": [("str", lambda v: c.dump_policy(p, str(tmp / "out") + v))],
        "atomic_write": [("str", lambda v: c.atomic_write(str(tmp / "w") + v, b"x"))],
        "read_input": [("str", lambda v: c.read_input(str(tmp / "r") + v)),
                       ("text", lambda v: c.read_input(_file(tmp, v, ".toml")))],
        "from_android": [("text", c.from_android)],
        "from_trustkit": [("text", c.from_trustkit)],
        "from_ios": [("text", c.from_ios), ("text", lambda v: c.from_ios(v, lossy=True))],
        "from_okhttp": [("text", c.from_okhttp),
                        ("str", lambda v: c.from_okhttp(f"x.test {K1} {K2}", v))],
        "from_hpkp": [("text", lambda v: c.from_hpkp(v, "a.test")),
                      ("str", lambda v: c.from_hpkp(f'pin-sha256="{K1[7:]}"; max-age=1', v))],
        "from_curl": [("text", lambda v: c.from_curl(v, "a.test")),
                      ("str", lambda v: c.from_curl(f"sha256//{K1[7:]}", v))],
        "import_policy": [*(("text", lambda v, f=f: c.import_policy(v, f, host="a.test"))
                            for f in c.IMPORT_FORMATS),
                          ("str", lambda v: c.import_policy("", v)),
                          ("str", lambda v: c.import_policy(f"x.test {K1} {K2}", "okhttp",
                                                            host=v))],
        "export_policy": [("str", lambda v: c.export_policy(p, v)),
                          ("str", lambda v: c.export_policy(p, "android", host=v))],
        "to_curl": [("str", lambda v: c.to_curl(p, v))],
        "to_hpkp": [("str", lambda v: c.to_hpkp(p, v))],
        "lint_policy": [("str", lambda v: certpin.lint_policy(
            certpin.PinPolicy({"a.example": certpin.PinSet([K1, K2])}),
            public_suffix=lambda name: name == v))],
        "check": [("str", lambda v: certpin.check(p, v, [])),
                  ("bytes", lambda v: certpin.check(p, "a.example", [v]))],
        "generate_backup_key": [
            ("str", lambda v: certpin.generate_backup_key(tmp / "k", v)),
            ("str", lambda v: certpin.generate_backup_key(tmp / "k", "a.example", sans=[v])),
        ],
        "fetch_chain": [("str", lambda v: certpin.fetch_chain(v, 9, timeout=1))],
    }


def _file(tmp: Path, value: str | bytes, suffix: str) -> Path:
    path = tmp / ("in" + suffix)
    if isinstance(value, str):
        path.write_bytes(value.encode("utf-8", "surrogatepass"))
    else:
        path.write_bytes(value)
    return path


#: Public names not fed hostile values here, and why.
NOT_HERE = {
    # plain data holders and enums: no parsing, no validation to break
    "BackupKey", "FetchedChain", "HostReport", "Outcome", "PinEvent", "Verdict",
    "ViolationReport", "ExportResult",
    # a type alias (Literal["leaf", "ca"]); its values are fed through PinSet(roles=...)
    "Role",
    # need a live server or a TLS stack; their hostile inputs are the policy and host names,
    # covered through PinPolicy / fetch_chain / check above and in their own tests
    "check_policy", "create_ssl_context", "make_reporter",
    # exporters of an already valid policy: no text input (export_policy covers the host)
    "to_android", "to_okhttp", "to_swift_delegate", "to_trustkit", "to_trustkit_swift",
    "to_ios",
}


def _public() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for module in (certpin, certpin.config):
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj) and not (inspect.isclass(obj) and issubclass(obj, BaseException)):
                out[name] = obj
    return out


def test_every_public_callable_is_fed_hostile_values_or_says_why_not(tmp_path: Path) -> None:
    assert sorted(set(_public()) - set(_calls(tmp_path)) - NOT_HERE) == []


@pytest.mark.parametrize("name", sorted(_public()))
def test_public_callables_document_what_they_raise(name: str) -> None:
    if name in NOT_HERE and name[0].isupper():
        return
    assert _documented(_public()[name]), f"{name} has no Raises: section"



@pytest.mark.parametrize("name", sorted(set(_public()) - NOT_HERE))
def test_hostile_values_raise_only_documented_exceptions(name: str, tmp_path: Path) -> None:
    allowed = _documented(_public()[name])
    failures: list[str] = []
    values = {"str": HOSTILE_STR, "bytes": HOSTILE_BYTES, "text": HOSTILE_TEXT}
    for index, (kind, call) in enumerate(_calls(tmp_path)[name]):
        for value in values[kind]:
            try:
                call(value)
            except allowed:
                pass
            except Exception as exc:
                line = (f"call {index} with {value[:40]!r}: {type(exc).__name__}: "
                        f"{str(exc)[:120]}")
                failures.append(line)
    assert failures == []

"""The code blocks of the documentation (``docs/*.md`` and ``README.md``), run as written.

Three checks, so that a page cannot drift from the code:

* every ```` ```python ```` block runs, unchanged, in a temporary folder holding the files the
  recipes open (``policy.toml`` is the TOML block of ``docs/formats.md`` itself), with
  :func:`certpin.fetch_chain` sent to a local trustme server instead of the public host named
  in the text (no internet here); blocks that only define coroutines leave them unawaited, as
  the text does;
* every ``certpin ...`` command line of a ```` ```sh ```` or ```` ```console ```` block parses with
  the real command-line parser (so a renamed option or format breaks this test);
* the recipes that ``tests/test_readme_recipes.py`` runs against real servers and impostors are
  still on the pages it names: if a recipe moves, this test says where its test must follow.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import certpin
from certpin.cli import build_parser
from support.servers import RecordingTLSServer

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def blocks(*languages: str) -> list[tuple[str, int, str]]:
    """(page, line, code) of every fenced block in one of ``languages``, across the pages."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) in languages:
                line = text.count("\n", 0, m.start()) + 1
                found.append((page.relative_to(ROOT).as_posix(), line, m.group(2)))
    return found


PYTHON = blocks("python")
SHELL = blocks("sh", "console", "bash")


def test_the_pages_have_the_blocks_we_expect() -> None:
    pages = {page for page, _, _ in PYTHON}
    assert {"README.md", "docs/getting-started.md", "docs/policies-and-host-matching.md",
            "docs/formats.md", "docs/clients.md", "docs/reports.md"} <= pages
    assert len(PYTHON) >= 7 and len(SHELL) >= 8


# ------------------------------------------------------------------ python blocks
@pytest.fixture()
def recipe_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: trustme.CA,
                  server_cert: trustme.LeafCert, server: RecordingTLSServer) -> Iterator[Path]:
    """A working folder with the files the recipes open, and fetch_chain kept on 127.0.0.1."""
    leaf = x509.load_pem_x509_certificate(server_cert.cert_chain_pems[0].bytes())
    (tmp_path / "backup-key.pem").write_bytes(server_cert.private_key_pem.bytes())
    (tmp_path / "server.der").write_bytes(leaf.public_bytes(Encoding.DER))
    (tmp_path / "bundle.pem").write_bytes(
        b"".join(p.bytes() for p in server_cert.cert_chain_pems) + ca.cert_pem.bytes())
    toml = [code for page, _, code in blocks("toml") if page == "docs/formats.md"]
    assert len(toml) == 1
    (tmp_path / "policy.toml").write_text(toml[0], encoding="utf-8")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    real_fetch_chain = certpin.fetch_chain

    def local_fetch_chain(host: str, port: int = 443, **kwargs: Any) -> certpin.FetchedChain:
        assert host and port  # the text's public host: served here by the local test server
        return real_fetch_chain("127.0.0.1", server.port, server_name="pinned.test",
                                cafile=str(ca_file))

    monkeypatch.setattr(certpin, "fetch_chain", local_fetch_chain)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.mark.parametrize(("page", "line", "code"), PYTHON,
                         ids=[f"{page}:{line}" for page, line, _ in PYTHON])
def test_python_block_runs(page: str, line: int, code: str, recipe_folder: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_recipe"}
    exec(compile(code, f"{page}:{line}", "exec"), namespace)
    out = capsys.readouterr().out
    if "fetch_chain" in code:  # the ten-line example prints the verified chain's pins
        served = certpin.load_certificates((recipe_folder / "bundle.pem").read_bytes())
        for cert in (served[0], served[-1]):  # the leaf, the test CA (the trust anchor)
            assert f"{certpin.spki_pin(cert)} {cert.subject.rfc4514_string()}\n" in out, out
        assert "sha256/C5+lpZ7tcVwmwQIMcRtPbsQtWLABXhQzejna0wHFr8M=" in out  # parse_pin line
    if "load_policy" in code:
        assert certpin.load_policy("policy.json") == certpin.load_policy("policy.toml")


# ------------------------------------------------------------------ shell blocks
COMMAND = re.compile(r"(?:^|&&|\||\$\()\s*(?:\$\s+)?(certpin\s[^|;)&#<>\n]*)", re.M)


def certpin_commands() -> list[tuple[str, int, str]]:
    found = []
    for page, line, code in SHELL:
        for offset, text in enumerate(code.splitlines(), start=1):
            text = text.removeprefix("$ ")
            for m in COMMAND.finditer(text):
                found.append((page, line + offset, m.group(1).strip()))
    return found


COMMANDS = certpin_commands()


def test_every_command_of_the_cli_is_shown() -> None:
    from certpin.cli import COMMANDS as NAMES

    shown = {shlex.split(cmd)[1] for _, _, cmd in COMMANDS}
    assert set(NAMES) - {"demo"} <= shown  # `certpin demo` is `make demo` in the text


@pytest.mark.parametrize(("page", "line", "command"), COMMANDS,
                         ids=[f"{page}:{line}" for page, line, _ in COMMANDS])
def test_shell_command_parses(page: str, line: int, command: str) -> None:
    # "[--max-age 5184000]" marks an optional part: given here, it must parse too
    argv = shlex.split(re.sub(r"\[(--[^\]]*)\]", r"\1", command))[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # the parser's usage error (exit 2)
        pytest.fail(f"{page}:{line}: `{command}` does not parse (exit {exc.code})")
    assert args.command == argv[0]


# ------------------------------------------------------------------ recipes with their own tests
#: page -> lines that tests/test_readme_recipes.py copies from it (and runs against servers)
RECIPES = {
    "docs/policies-and-host-matching.md": [
        'unknown_hosts="allow",   # or "reject"', 'expires="2031-06-30",',
        'print(check(policy, "api.example.com", []).outcome)',
    ],
    "docs/clients.md": [
        "opener = stdlib.build_opener(ctx)",
        'conn = stdlib.HTTPSConnection("pinned.example", policy=ctx)',
        'reader, writer = await stdlib.open_connection("pinned.example", 443, ctx)',
        'await asyncio.open_connection("pinned.example", 443, ssl=ctx)',
        "s = PinnedSession(policy)", "mount BOTH prefixes",
        "http = pinned_pool_manager(policy, retries=1)",
        'via = pinned_proxy_manager("http://proxy.internal:3128", policy)',
        "c = pinned_client(policy, http2=True, follow_redirects=True)",
        "async with pinned_session(policy, trust_env=True) as s",
        'async with pinned_ws.connect("wss://api.example/feed", policy) as ws:',
        "Certificate pinning failure for pinned.example\n  Verified chain:",
        'PoolManager(ssl_context=ctx, cert_reqs="CERT_NONE")',
    ],
    "docs/reports.md": [
        "certpin collect --port 8080 > reports.jsonl",
        "enforce=False,                                   # report-only",
        "ctx = certpin.create_ssl_context(policy, on_report=seen.append)",
        "`port` (null on the asyncio/`wrap_bio` path",
    ],
}


@pytest.mark.parametrize("page", sorted(RECIPES))
def test_recipes_tested_elsewhere_are_still_on_their_page(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    missing = [line for line in RECIPES[page] if line not in text]
    assert not missing, f"{page} no longer shows {missing}: move tests/test_readme_recipes.py along"


# ------------------------------------------------------------------ the README's links
def slug(heading: str) -> str:
    """The anchor GitHub and MkDocs' toc give a heading (the ASCII headings used here)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_readme_links_into_the_docs_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)(?:#([^)]+))?\)", readme)
    assert len(links) >= 8
    for target, anchor in links:
        path = ROOT / target
        assert path.is_file(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
            assert anchor in {slug(h) for h in headings}, f"{target}#{anchor}"

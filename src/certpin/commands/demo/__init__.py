"""``certpin demo``: pinning end to end on this machine, no internet needed.

The demo creates a fresh test CA, starts an embedded HTTPS server on 127.0.0.1 with a certificate
from it, and then runs its steps in order, each printing what it does:

1. ``obtain``: get the server's pins with :func:`certpin.fetch_chain` (the code a user runs);
2. ``enforce``: a pinned request succeeds, then the same request to an impostor whose certificate
   comes from a second CA the client also trusts is refused, and the impostor received zero bytes;
3. ``public root``: compute ISRG Root X1's SPKI pin from certifi's bundle and compare it with the
   published value.

To add a step, write ``def step_x(env: DemoEnv) -> bool`` (print what happens, return whether it
went as expected) and insert ``("title", step_x)`` into :data:`STEPS`. ``env`` holds the CA, its
PEM file, the running server and the pins obtained so far; helpers in
:mod:`certpin.commands.demo.server`
start more servers (e.g. an impostor with a certificate from a second CA).

Exit status: 0 when every step went as expected, 1 otherwise, 2 when the ``demo`` extra
(trustme, certifi) is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from ...chainpins import name_text
from ...errors import CertpinError, message_of
from ...pins import Pin, load_certificates, spki_pin
from ...probe import fetch_chain
from .server import DemoServer, make_ca, server_context

__all__ = ["HELP", "ISRG_ROOT_X1_PIN", "STEPS", "DemoEnv", "add_arguments", "run"]

HELP = "run an embedded HTTPS server on 127.0.0.1 and show pinning end to end (no internet)"

#: ISRG Root X1's published SPKI pin (Let's Encrypt's root), base64 of SHA-256 of its DER SPKI.
ISRG_ROOT_X1_PIN = "C5+lpZ7tcVwmwQIMcRtPbsQtWLABXhQzejna0wHFr8M="

#: the server's host name in its certificate; the demo connects to 127.0.0.1 and sends this as SNI
SERVER_NAME = "localhost"


@dataclass
class DemoEnv:
    """What the demo steps share.

    Attributes:
        ca: the demo's test CA (a ``trustme.CA``), trusted through ``ca_file`` only.
        ca_file: path of the CA certificate PEM (a temporary file, removed at the end).
        server: the legitimate HTTPS server on 127.0.0.1.
        out: where steps print.
        pins: the server's pins obtained by the ``obtain`` step (verified chain, leaf first).
        workdir: a temporary directory for files steps write.
        extra: free room for later steps to pass values along.
    """

    ca: Any
    ca_file: str
    server: DemoServer
    out: TextIO
    workdir: str
    pins: list[Pin] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def say(self, text: str = "") -> None:
        """Print one line of the demo."""
        print(text, file=self.out, flush=True)


def step_obtain(env: DemoEnv) -> bool:
    """Obtain the server's pins with fetch_chain, as a user would, and print them."""
    port = env.server.port
    env.say(f'  fetch_chain("127.0.0.1", {port}, server_name="{SERVER_NAME}", cafile=<demo CA>)')
    chain = fetch_chain("127.0.0.1", port, server_name=SERVER_NAME, cafile=env.ca_file)
    if chain.verified is None:
        env.say(f"  the chain did not validate: {chain.verify_error}")
        return False
    env.say(
        f"  {chain.tls_version}; the server sent {len(chain.served)} certificate(s); the verified "
        f"chain (what pinning sees) has {len(chain.verified)}:"
    )
    for i, cert in enumerate(chain.verified):
        pin = spki_pin(cert)
        env.pins.append(pin)
        role = "leaf" if i == 0 else "root" if i == len(chain.verified) - 1 else "intermediate"
        env.say(f"    [{i}] {role:<12} {pin}  {name_text(cert.subject)}")
    env.say(f"  application bytes the server received: {len(env.server.received)}")
    return len(env.server.received) == 0


def step_public_root(env: DemoEnv) -> bool:
    """Compute ISRG Root X1's SPKI pin from certifi and compare it with the published value."""
    import certifi
    from cryptography.x509.oid import NameOID

    with open(certifi.where(), "rb") as f:
        bundle = load_certificates(f.read())
    roots = [
        c
        for c in bundle
        if any(
            a.value == "ISRG Root X1" for a in c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        )
    ]
    if not roots:
        env.say(f"  ISRG Root X1 is not in certifi's bundle ({len(bundle)} certificates)")
        return False
    computed = spki_pin(roots[0]).base64
    verdict = "match" if computed == ISRG_ROOT_X1_PIN else "MISMATCH"
    env.say(f"  certifi bundle: {len(bundle)} certificates, {certifi.where()}")
    env.say(f"  ISRG Root X1 computed   sha256/{computed}")
    env.say(f"  ISRG Root X1 published  sha256/{ISRG_ROOT_X1_PIN}   {verdict}")
    return computed == ISRG_ROOT_X1_PIN


def step_enforce(env: DemoEnv) -> bool:
    """A pinned request succeeds; the same request to a trusted-CA impostor is refused."""
    from .enforce import run_enforcement_demo

    return run_enforcement_demo(
        ca=env.ca, port=env.server.port, host=SERVER_NAME, say=env.say, pins=env.pins,
        server_class=DemoServer, server_context=server_context,
    )


#: the demo's steps, in order: (title, step). Later features insert theirs here.
STEPS: list[tuple[str, Callable[[DemoEnv], bool]]] = [
    ("Obtain the pins of a live server (certpin.fetch_chain)", step_obtain),
    ("Enforce the pins: a pinned request, then an impostor (certpin.create_ssl_context)",
     step_enforce),
    ("Pin of a real public root shipped with certifi", step_public_root),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``certpin demo`` takes no options."""


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run every step of :data:`STEPS`; return 0 if all went as expected, else 1 (2: no extra)."""
    out = out if out is not None else sys.stdout
    try:
        import certifi  # noqa: F401
        import trustme  # noqa: F401
    except ModuleNotFoundError as exc:
        print(
            f"certpin demo: error: {exc.name} is missing; install the demo extra: "
            "pip install 'certpin[demo]'",
            file=sys.stderr,
        )
        return 2
    ok = True
    with tempfile.TemporaryDirectory(prefix="certpin-demo-") as workdir:
        ca = make_ca("certpin demo CA")
        ca_file = os.path.join(workdir, "demo-ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        context = server_context(ca, SERVER_NAME, "127.0.0.1")
        with DemoServer(context) as server:
            env = DemoEnv(ca=ca, ca_file=ca_file, server=server, out=out, workdir=workdir)
            env.say(
                f"certpin demo: HTTPS server on 127.0.0.1:{server.port}, certificate for "
                f"{SERVER_NAME} from a fresh test CA"
            )
            for number, (title, step) in enumerate(STEPS, 1):
                env.say()
                env.say(f"{number}. {title}")
                try:
                    passed = step(env)
                except CertpinError as exc:
                    env.say(f"  error: {message_of(exc)}")
                    passed = False
                env.say(f"  -> {'ok' if passed else 'FAILED'}")
                ok = ok and passed
    print(file=out)
    summary = "every step went as expected" if ok else "some steps FAILED"
    print(f"demo finished: {summary}", file=out)
    return 0 if ok else 1

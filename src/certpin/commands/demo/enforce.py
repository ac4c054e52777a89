"""The enforcement part of ``certpin demo``: a pinned request, then the same against an impostor.

:func:`run_enforcement_demo` needs only the legitimate server's port and CA (and, if the demo
obtained them, its pins), so the ``demo`` command can call it as one of its steps. The impostor
gets a certificate from a second CA that the client *also* trusts: validation alone would accept
it; the pins refuse it, and the impostor receives zero application bytes.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from ...clients.stdlib import HTTPSConnection
from ...context import create_ssl_context
from ...errors import PinMismatchError, message_of, quote
from ...pins import Pin, spki_pin
from ...policy import PinPolicy, PinSet

__all__ = ["run_enforcement_demo"]


def _get(ctx: ssl.SSLContext, host: str, port: int) -> tuple[int, bytes]:
    conn = HTTPSConnection(host, port, policy=ctx, timeout=10)
    try:
        conn.request("GET", "/account", headers={"Authorization": "Bearer demo-secret-token"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def run_enforcement_demo(
    *,
    ca: Any,
    port: int,
    host: str,
    say: Callable[[str], None],
    pins: Sequence[Pin] = (),
    server_class: Any = None,
    server_context: Callable[..., ssl.SSLContext] | None = None,
) -> bool:
    """Show a pinned request succeed, then the same request refused by an impostor.

    Args:
        ca: the legitimate server's ``trustme.CA``.
        port: the legitimate server's port on 127.0.0.1.
        host: the name in its certificate (``"localhost"``); used as the URL host and SNI.
        say: prints one line.
        pins: the server's pins as obtained (leaf first); default: the CA's key pin and the
            leaf's are computed from the first connection's verified chain.
        server_class: the class of a recording server (``DemoServer``: context manager with
            ``port`` and ``received``), for the impostor.
        server_context: ``server_context(ca, *names) -> ssl.SSLContext`` for the impostor.

    Returns:
        True when the pinned request succeeded, the impostor's was refused with
        :class:`certpin.PinMismatchError` and the impostor received zero bytes.
    """
    import trustme

    if server_class is None or server_context is None:
        from .server import DemoServer
        from .server import server_context as make_context

        server_class, server_context = DemoServer, make_context

    attacker = trustme.CA(organization_name="certpin demo impostor CA")
    trusted = ca.cert_pem.bytes().decode() + attacker.cert_pem.bytes().decode()
    chosen = list(pins)
    if len(chosen) < 2:  # not obtained: pin the CA's key (and whatever was given)
        from cryptography import x509

        ca_pin = spki_pin(x509.load_pem_x509_certificate(ca.cert_pem.bytes()))
        chosen = [ca_pin, *(p for p in chosen if p != ca_pin)]
    policy = PinPolicy({host: PinSet(chosen, allow_single_pin=len(chosen) < 2)})
    ctx = create_ssl_context(policy, cadata=trusted)
    say(f"  policy: {host} -> " + ", ".join(str(p) for p in policy.pin_sets[host].pins))
    say("  the client trusts TWO CAs: the server's and a second one (think: a corporate proxy)")
    say(f"  GET https://{host}:{port}/account  (Authorization: Bearer demo-secret-token)")
    try:
        status, body = _get(ctx, host, port)
    except (OSError, http.client.HTTPException) as exc:
        say(f"  the pinned request failed: {message_of(exc)}")
        return False
    say(f"  -> {status} {quote(body.decode('utf-8', 'replace').strip(), None)}: pins matched")

    impostor_ctx = server_context(attacker, host, "127.0.0.1")
    with server_class(impostor_ctx) as impostor:
        say(
            f"  impostor on 127.0.0.1:{impostor.port}, certificate for {host} from the second "
            "(trusted) CA"
        )
        say(f"  GET https://{host}:{impostor.port}/account  (same request, same context)")
        refused = False
        try:
            _get(ctx, host, impostor.port)
            say("  -> the request went through: pinning did NOT protect it")
        except PinMismatchError as exc:
            refused = True
            say("  -> refused before the request was sent:")
            for line in str(exc).splitlines():
                say(f"     {line}")
        except (OSError, http.client.HTTPException) as exc:
            say(f"  -> failed for another reason: {message_of(exc)}")
        received = len(impostor.received)
    say(f"  application bytes the impostor received: {received}")
    return refused and received == 0

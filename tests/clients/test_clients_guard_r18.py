"""Review 10r of the client helpers: urllib (``certpin.clients.stdlib.build_opener``) logs in to
an ``ftp://`` host in clear text after a policy swap pinned that host while the FTP control
connection was being made.

Since review 10n every helper judges the clear text it writes right before writing it, under the
policy in force then (``_JudgedConnection.send`` for ``http://``, ``_HostGuard.send`` for the
``CONNECT`` of a tunnel). ``ftp://`` is clear text too (user, password, commands), and
``RefusePlainText.ftp_request`` refuses it to a pinned host; but that is the only judgement, made
when urllib processes the request, before ``FTPHandler.ftp_open`` connects. A swap that pins the
host while the TCP connection is being made (a signed update on the updater's thread) comes too
late for it, and ftplib then sends ``USER``, ``PASS`` (the URL's password, or urllib's
anonymous one) and ``CWD`` to the now-pinned host.

The swap is placed at the first TCP connect on another thread (the updater's), the technique of
``test_clients_plainwrite.py``; no certpin or client code is patched. The impostor is a plain
FTP recorder on 127.0.0.1: v1 does not pin ``127.0.0.1`` (``ftp_open`` resolves the host with
``socket.gethostbyname``, which the review's name map does not answer, so the host is the
address), v2 (the review's policy) does. The test asserts that it received zero bytes.
"""

from __future__ import annotations

import time

import certpin
from certpin.clients.stdlib import build_opener
from certpin.tls import pinning_context
from certpin.tls.swap import SwapRight, swap_policy
from support.review import TIMEOUT, FtpImpostor, Review, attempt, review
from support.swaps import swap_at_first_connect

__all__ = ["review"]  # fixture imported for pytest

HOST = "127.0.0.1"  # v1 does not pin it; v2 (the review's policy) does


def test_urllib_logs_in_over_ftp_to_a_host_a_swap_pinned_while_it_connected(
    review: Review,
) -> None:
    # finding (review10r): ftp:// is judged once, at request processing (before connecting);
    # the swap pins the host during the connect and ftplib logs in in clear text.
    v2 = review.policy
    v1 = certpin.PinPolicy({h: p for h, p in v2.pin_sets.items() if h != HOST},
                           unknown_hosts="allow")
    assert not v1.is_pinned(HOST)
    assert v2.is_pinned(HOST)
    right = SwapRight()
    ctx = pinning_context(v1, cadata=review.cadata, swap_right=right)
    ftp = FtpImpostor()
    try:
        url = f"ftp://app:s3cret@{HOST}:{ftp.port}/secret.txt"
        # fixed by refusing ftp:// altogether (nothing is connected): no connect to trace then
        with swap_at_first_connect(lambda: swap_policy(ctx, v2, right), must_connect=False):
            outcome = attempt(lambda: build_opener(ctx).open(url, timeout=TIMEOUT).read())
        assert "does not speak FTP" in repr(outcome), outcome
        time.sleep(0.3)  # the recorder's thread may still be reading
        with ftp.lock:
            got = ftp.data
        assert got == b"", (
            f"urllib: ftp://{HOST} after a swap pinned it while connecting: the impostor "
            f"received {got!r}. build_opener().open returned {outcome!r}"
        )
    finally:
        ftp.close()

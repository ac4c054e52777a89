"""Regressions from the ninth adversarial review of the client helpers (review10i).

An absolute request target that urlsplit reads with an empty netloc (``https:///localhost/``) or
no ``//`` at all (``https:localhost/``) skips RequestGuard.check_target, while a WHATWG URL
parser (special scheme: slashes are ignored before the authority) reads the pinned localhost.
Each test asserts the IMPOSTOR received ZERO application bytes.
"""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from support.enforce import (
    impostor,
    impostor_leaf,
    intermediate,
    leaf_context,
    legit_leaf,
    legit_server,
    pinned_ctx,
    policy,
    trust_pem,
)
from support.review import TIMEOUT, Review, assert_zero_bytes, attempt, review

__all__ = [
    "impostor", "impostor_leaf", "intermediate", "leaf_context", "legit_leaf", "legit_server",
    "pinned_ctx", "policy", "review", "trust_pem",
]

SPELLINGS = ["https:///localhost:{port}/secret", "https:localhost:{port}/secret",
             "https:/localhost:{port}/secret"]


# regression: found by the ninth adversarial review (review10i): slash-less / extra-slash
#   absolute targets pass check_target (urlsplit netloc empty), WHATWG reads localhost
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_http_client_absolute_url_without_netloc_naming_a_pinned_host_is_refused(
    review: Review, spelling: str,
) -> None:
    from certpin.clients.stdlib import HTTPSConnection

    def run() -> Any:
        conn = HTTPSConnection("unpinned.test", review.impostor.tls_port, policy=review.policy,
                               cadata=review.cadata, timeout=TIMEOUT)
        try:
            conn.request("GET", spelling.format(port=review.legit.tls_port),
                         headers={"Host": "unpinned.test"})
            return conn.getresponse().status
        finally:
            conn.close()

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"http.client target {spelling}", outcome)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_urllib_selector_without_netloc_naming_a_pinned_host_sends_nothing(
    review: Review, spelling: str,
) -> None:
    from certpin.clients.stdlib import build_opener

    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"http://unpinned.test:{port}/secret")
        req.selector = spelling.replace("https", "http").format(port=port)
        opener = build_opener(review.policy, cadata=review.cadata)
        with opener.open(req, timeout=TIMEOUT) as resp:
            return resp.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"urllib selector {spelling}", outcome)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_httpx_target_extension_without_netloc_naming_a_pinned_host_is_refused(
    review: Review, spelling: str,
) -> None:
    from certpin.clients.httpx import pinned_client

    target = spelling.format(port=review.legit.tls_port).encode()

    def run() -> Any:
        with pinned_client(review.policy, cadata=review.cadata, timeout=TIMEOUT) as c:
            return c.get(f"https://unpinned.test:{review.impostor.tls_port}/",
                         extensions={"target": target}).status_code

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"httpx target {spelling}", outcome)

"""Regressions from the eighth adversarial review of the client helpers (review10h). Each test
asserts that an IMPOSTOR on 127.0.0.1, whose certificate comes from a CA the client trusts,
received ZERO application bytes. Each fails on the code it was found against."""

from __future__ import annotations

import urllib.request
from typing import Any

from support.enforce import (
    impostor,
    impostor_leaf,
    intermediate,
    legit_leaf,
    legit_server,
    pinned_ctx,
    policy,
    trust_pem,
)
from support.review import TIMEOUT, Review, assert_zero_bytes, attempt, review

__all__ = [  # fixtures imported for pytest
    "impostor",
    "impostor_leaf",
    "intermediate",
    "legit_leaf",
    "legit_server",
    "pinned_ctx",
    "policy",
    "review",
    "trust_pem",
]




# regression: http.client: an absolute request URL is judged by urllib.parse.urlsplit, whose
#   authority runs to the first "/" and whose host follows the last "@": for
#   "https://localhost\@unpinned.test/" that is unpinned.test (the TLS name: allowed), while a
#   WHATWG URL parser (backslash is a slash in an https URL) reads host localhost, the pinned
#   host, path "/@unpinned.test/". http.client sends the backslash as is. Two readings of the
#   request target: it must be refused (any doubt answers "pinned"), not sent.
def test_http_client_absolute_url_with_backslash_naming_a_pinned_host_is_refused(
    review: Review,
) -> None:
    from certpin.clients.stdlib import HTTPSConnection

    def run() -> Any:
        conn = HTTPSConnection("unpinned.test", review.impostor.tls_port, policy=review.policy,
                               cadata=review.cadata, timeout=TIMEOUT)
        try:
            conn.request("GET", f"https://localhost:{review.legit.tls_port}\\@unpinned.test:"
                                f"{review.impostor.tls_port}/secret",
                         headers={"Host": "unpinned.test"})
            return conn.getresponse().status
        finally:
            conn.close()

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "http.client absolute URL localhost\\@unpinned.test",
                      outcome)


# regression: urllib: the same backslash spelling in Request.selector (a documented attribute,
#   review10g judged it with urlsplit) on a clear-text connection to unpinned.test: a WHATWG
#   reading names the pinned localhost, in clear text
def test_urllib_selector_with_backslash_naming_a_pinned_host_sends_nothing(
    review: Review,
) -> None:
    from certpin.clients.stdlib import build_opener

    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"http://unpinned.test:{port}/secret")
        req.selector = f"http://localhost:{port}\\@unpinned.test:{port}/secret"
        opener = build_opener(review.policy, cadata=review.cadata)
        with opener.open(req, timeout=TIMEOUT) as resp:
            return resp.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib selector http://localhost\\@unpinned.test/",
                      outcome)


# regression: httpx: the same backslash spelling in the 'target' request extension (review10b
#   judged it with httpx.URL, which reads unpinned.test; httpcore sends the target as is, and
#   urllib3's own parse_url reads localhost)
def test_httpx_target_extension_with_backslash_naming_a_pinned_host_is_refused(
    review: Review,
) -> None:
    from certpin.clients.httpx import pinned_client

    target = (f"https://localhost:{review.legit.tls_port}\\@unpinned.test:"
              f"{review.impostor.tls_port}/secret").encode()

    def run() -> Any:
        with pinned_client(review.policy, cadata=review.cadata, timeout=TIMEOUT) as c:
            return c.get(f"https://unpinned.test:{review.impostor.tls_port}/",
                         extensions={"target": target}).status_code

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "httpx target https://localhost\\@unpinned.test",
                      outcome)

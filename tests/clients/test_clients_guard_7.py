"""Regressions from the seventh adversarial review of the client helpers (review10g).

urllib's pinned opener judges a request by re-parsing ``Request.full_url``, but urllib opens
it with the request's own documented attributes: ``Request.type`` (which handler opens it),
``Request.host`` (where http.client connects) and ``Request.selector`` (the request target).
Changing any of them, directly or from a request processor that runs after urllib's own (a
documented extension point), sends a request in clear text to a pinned host, or a request
for a pinned host in clear text to another one. Each test asserts that the IMPOSTOR (which
listens on 127.0.0.1 and ::1) received ZERO application bytes.
"""

from __future__ import annotations

import urllib.request
from typing import Any

from support.review import TIMEOUT, Review, assert_zero_bytes, attempt, review

__all__ = ["review"]  # fixture imported for pytest


def _open(review: Review, req: urllib.request.Request, *handlers: Any) -> Any:
    from certpin.clients.stdlib import build_opener

    opener = build_opener(review.policy, *handlers, cadata=review.cadata)
    with opener.open(req, timeout=TIMEOUT) as resp:
        return resp.status


# regression: review10g: urllib: Request.host reassigned to a pinned host on an http:// URL of an
#   unpinned one: the guard judged full_url, http.client dialled req.host ([::1]) in clear text
def test_urllib_request_host_reassigned_to_a_pinned_host_sends_nothing(review: Review) -> None:
    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"http://unpinned.test:{port}/secret",
                                     headers={"Host": f"unpinned.test:{port}"})
        req.host = f"[::1]:{port}"  # documented attribute: where urllib connects
        return _open(review, req)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib Request.host = pinned [::1]", outcome)


# regression: review10g: urllib: a request processor ordered after urllib's own (handler_order >
#   500, after the Host header was added) changed req.host to a pinned host: clear text to it
def test_urllib_late_processor_changing_request_host_sends_nothing(review: Review) -> None:
    port = review.impostor.plain_port

    class Late(urllib.request.BaseHandler):
        handler_order = 900

        def http_request(self, req: urllib.request.Request) -> urllib.request.Request:
            req.host = f"[::1]:{port}"
            return req

    def run() -> Any:
        return _open(review, urllib.request.Request(f"http://unpinned.test:{port}/secret"),
                     Late())

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib processor setting req.host", outcome)


# regression: review10g: urllib: Request.type = "http" on an https:// URL of a pinned host: the
#   guard judged the https full_url, urllib's PinnedHTTPHandler opened it in clear text
def test_urllib_request_type_http_on_a_pinned_https_url_sends_nothing(review: Review) -> None:
    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"https://[::1]:{port}/secret")
        req.type = "http"  # documented attribute: the scheme urllib opens the request with
        return _open(review, req)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib Request.type = http, pinned [::1]", outcome)


# regression: review10g: urllib: Request.selector set to an absolute http:// URL of a pinned host on
#   a plain request to an unpinned one: a clear-text request for the pinned host (as set_proxy)
def test_urllib_selector_naming_a_pinned_host_in_clear_text_sends_nothing(
    review: Review,
) -> None:
    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"http://unpinned.test:{port}/secret")
        req.selector = f"http://localhost:{port}/secret"  # documented attribute
        return _open(review, req)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib selector http://localhost/", outcome)

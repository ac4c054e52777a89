"""What a :class:`certpin.updates.client.PolicyUpdater` reads the repository with: a TUF fetcher
over a pinned urllib3 pool (the pins of the policy in force apply to the update host)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import urllib3
from tuf.api import exceptions as tuf_errors
from tuf.ngclient.fetcher import FetcherInterface

from ..clients.urllib3 import pinned_pool_manager

__all__ = ["PinnedFetcher"]

class PinnedFetcher(FetcherInterface):
    """A TUF fetcher on certpin's pinned urllib3 pool (the update host gets the pins in force)."""

    def __init__(self, ctx: ssl.SSLContext, timeout: float) -> None:
        self._pool = pinned_pool_manager(ctx, retries=False)
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            response = self._pool.request("GET", url, preload_content=False,
                                          timeout=self._timeout, redirect=False)
        except urllib3.exceptions.TimeoutError as exc:
            raise tuf_errors.SlowRetrievalError from exc
        except urllib3.exceptions.HTTPError as exc:
            raise tuf_errors.DownloadError(f"{url}: {exc}") from exc
        if response.status >= 400:
            response.close()
            raise tuf_errors.DownloadHTTPError(f"HTTP status {response.status}", response.status)
        return self._chunks(response)

    @staticmethod
    def _chunks(response: Any) -> Iterator[bytes]:
        try:
            yield from response.stream(64 * 1024)
        except urllib3.exceptions.TimeoutError as exc:
            raise tuf_errors.SlowRetrievalError from exc
        except urllib3.exceptions.HTTPError as exc:
            raise tuf_errors.DownloadError(str(exc)) from exc
        finally:
            response.release_conn()

    def close(self) -> None:
        self._pool.clear()


"""Thin helpers per HTTP client; each module imports its client lazily (optional extras).

* :mod:`certpin.clients.urllib3`: ``pinned_pool_manager``, ``pinned_proxy_manager``
* :mod:`certpin.clients.requests`: ``PinnedSession``, ``PinnedAdapter``
* :mod:`certpin.clients.httpx`: ``pinned_client``, ``pinned_async_client``
* :mod:`certpin.clients.aiohttp`: ``pinned_session``
* :mod:`certpin.clients.websockets`: ``connect``
* :mod:`certpin.clients.stdlib`: urllib.request, http.client, asyncio (from the enforce branch)

Importing this package imports no client library.
"""

from ._common import PinnedRequestError

__all__ = ["PinnedRequestError"]

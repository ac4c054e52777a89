"""TrustKit's registry rule: which part of a domain TrustKit takes as its public suffix.

TrustKit (iOS/macOS) does not use the Public Suffix List as published today: it calls
``GetRegistryLength`` of Google's domain-registry-provider over a table generated from the list
in July 2018 (``TrustKit/Dependencies/domain_registry/``, last changed in commit ``f17d848``).
That snapshot is vendored here as ``trustkit_suffixes.txt`` (rules in Public Suffix List syntax,
with its source and licence in its header; ``scripts/trustkit_registry.py`` rebuilds it from
TrustKit's ``registry_tables.h`` and checks it against the original tables).

:func:`registry_length` follows the search of ``private/registry_search.c`` and
``private/trie_search.c`` (TrustKit tag 3.0.7), which is *not* the Public Suffix List algorithm:

* the labels are matched from the right along a trie of the rules; the registry is the deepest
  matched node **if that node ends a rule**. A matched node that ends no rule (``amazonaws`` in
  ``amazonaws.com``, which only the rules ``s3.amazonaws.com``, ... pass through) resets the
  answer to "no registry" (``registry_search.c`` lines 187-192), so ``amazonaws.com`` and
  ``www.amazonaws.com`` have none, where the Public Suffix List says ``com``;
* no implicit ``*`` rule: a name whose last label is not in the snapshot has no registry
  (``api.internal``, ``localhost``, IP addresses, and TLDs delegated after July 2018);
* a wildcard (``*.kawasaki.jp``) matches any label; an exception (``!city.kawasaki.jp``) makes
  the registry its parent (``trie_search.c`` lines 171-202, ``registry_search.c`` lines 97-104);
* ASCII only (a Unicode name has no registry), at most 255 bytes, case-insensitive, leading
  dots skipped, one trailing dot counted as part of the registry (``com.``), an empty label
  ends the search.

Nothing here is public API.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

__all__ = ["domain_problem", "registry_length", "trustkit_report_uri"]

#: Data file of the rules (package data next to this module).
DATA = "trustkit_suffixes.txt"

#: The longest name GetRegistryLength accepts, in bytes (``registry_search.c`` lines 25-26, 76).
_MAX_NAME = 255

_Node = dict[str, "tuple[bool, _Node]"]


@functools.cache
def _trie() -> _Node:
    """The rules as a trie from the rightmost label: label -> (ends a rule, children)."""
    root: _Node = {}
    text = resources.files(__package__).joinpath(DATA).read_text(encoding="ascii")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        node = root
        labels = line.split(".")[::-1]
        for i, label in enumerate(labels):
            terminal, children = node.get(label, (False, {}))
            node[label] = (terminal or i == len(labels) - 1, children)
            node = children
    return root


def _find(children: _Node, label: str) -> tuple[str, bool, _Node] | None:
    """The child for ``label``: an exact match, else ``*`` (or its exception ``!label``)."""
    hit = children.get(label)
    if hit is not None:
        return label, *hit
    if "*" in children:
        name = "!" + label if "!" + label in children else "*"
        return name, *children[name]
    return None


def registry_length(hostname: str) -> int:
    """TrustKit's ``GetRegistryLength(hostname)``: the length of the registry part, or 0.

    Args:
        hostname: a domain as TrustKit reads it from its configuration (any text).

    Returns:
        The number of characters at the end of ``hostname`` that TrustKit takes as its registry
        (``3`` for ``www.example.com``, ``5`` for ``a.b.co.uk``, ``4`` for ``example.com.``), or
        0 when TrustKit finds none (``api.internal``, ``127.0.0.1``, ``amazonaws.com``, a
        non-ASCII name). ``registry_length(d) == len(d)``: ``d`` is itself a public suffix.
    """
    if not hostname.isascii() or len(hostname) > _MAX_NAME:
        return 0
    value = hostname.lower()
    start = len(value) - len(value.lstrip("."))
    end = len(value)
    stop = end - 1 if end > start and value[-1] == "." else end  # one trailing dot: a FQDN
    parts: list[tuple[str, int]] = []
    pos = start
    for label in value[start:stop].split("."):
        parts.append((label, pos))
        pos += len(label) + 1
    children = _trie()
    registry: int | None = None
    for label, at in reversed(parts):
        if not label or label[0] in "*!":
            break  # an empty, wildcard or exception label ends the search
        found = _find(children, label)
        if found is None:
            break
        name, terminal, children = found
        if not terminal:
            registry = None  # a node on the way to longer rules only: no registry here
        elif name.startswith("!"):
            registry = at + len(label) + 1  # an exception: the registry is the parent
        else:
            registry = at
    return 0 if registry is None else end - registry


def domain_problem(domain: str, include_subdomains: bool) -> str | None:
    """Why TrustKit throws at start-up for ``domain`` in ``TSKPinnedDomains``, or None.

    Follows ``parse_configuration.m`` (TrustKit tag 3.0.7): line 72 throws "invalid domain"
    when :func:`registry_length` is 0; lines 116-124 throw "includeSubdomains for a domain
    suffix" when the whole domain is its registry (``com``, ``co.uk``, ``appspot.com``).

    Args:
        domain: the domain as written in the configuration (TrustKit checks it unchanged).
        include_subdomains: the domain's ``TSKIncludeSubdomains``.

    Returns:
        One line naming the rule and TrustKit's source line, or None if TrustKit accepts it.
    """
    length = registry_length(domain)
    if length == 0:
        return ("TrustKit finds no public suffix in it (its public-suffix snapshot of July 2018 "
                "has none for IP addresses, names such as api.internal or amazonaws.com) and "
                "throws at start-up (parse_configuration.m line 72)")
    if include_subdomains and length == len(domain):
        return ("it is a public suffix in TrustKit's snapshot: TrustKit throws at start-up on "
                "includeSubdomains for a public suffix (parse_configuration.m lines 116-124)")
    return None


#: RFC 3986 section 2: unreserved, reserved and percent-encoded characters, nothing else
_RFC3986_URI = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def trustkit_report_uri(uri: str) -> bool:
    """Whether TrustKit can use ``uri`` as a report URI on every iOS version it supports.

    TrustKit turns each ``TSKReportUris`` entry into an ``NSURL`` with ``URLWithString:`` and
    throws at start-up when that returns nil (``parse_configuration.m`` lines 174-181, tag
    3.0.7). Before iOS 17, ``URLWithString:`` returns nil for a string with characters outside
    RFC 3986 (Apple's documentation of ``URLWithString:``); TrustKit supports iOS 12 and later
    (``TrustKit.podspec`` line 11). So only RFC 3986 characters, with valid percent-encodings.
    """
    return _RFC3986_URI.fullmatch(uri) is not None

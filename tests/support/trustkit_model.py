"""A model of how TrustKit picks the pinning policy of a host, for differential tests.

Written from TrustKit/configuration_utils.m at tag 3.0.7 (isSubdomain, lines 18-56;
getPinningConfigurationKeyForDomain, lines 58-100): an exact key wins; else, among the
includeSubdomains domains whose registry (TrustKit's GetRegistryLength, modelled by
certpin.config._trustkit_registry) equals the host's and whose labels end the host's, the one
with the longest label part (the most specific) wins. Checked against TrustKit's own test
expectations in tests/config/test_config_trustkit_fixtures.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from certpin.config._trustkit_registry import registry_length


def _is_subdomain(domain: str, subdomain: str) -> int:
    """configuration_utils.m isSubdomain: the match length (longer: more specific), or 0."""
    if len(subdomain) <= len(domain):
        return 0
    reg = registry_length(domain)
    if registry_length(subdomain) != reg:
        return 0
    if domain[len(domain) - reg:] != subdomain[len(subdomain) - reg:]:
        return 0
    domain_label = "." + domain[: len(domain) - reg - 1]
    subdomain_label = subdomain[: len(subdomain) - reg - 1]
    return len(domain_label) if subdomain_label.endswith(domain_label) else 0


def trustkit_key_for(host: str, include_subdomains: Mapping[str, bool]) -> str | None:
    """The configuration key TrustKit uses for ``host`` (None: not pinned).

    Args:
        host: the host name the system reports for the connection.
        include_subdomains: every configured domain and its TSKIncludeSubdomains.
    """
    if host in include_subdomains:
        return host
    best, key = 0, None
    for domain, subs in include_subdomains.items():
        if subs:
            match = _is_subdomain(domain, host)
            if match > best:
                best, key = match, domain
    return key

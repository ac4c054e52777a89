"""Apple's own pinning keys: App Transport Security ``NSPinnedDomains`` in and out.

``certpin import FILE --from ios`` (:func:`from_ios`) and ``certpin export POLICY --format ios``
(:func:`to_ios`). The keys, per Apple's documentation
(https://developer.apple.com/documentation/bundleresources/information-property-list/nsapptransportsecurity/nspinneddomains
and the pages of ``NSIncludesSubdomains``, ``NSPinnedCAIdentities``, ``NSPinnedLeafIdentities``,
"Discussion"): ``NSAppTransportSecurity`` → ``NSPinnedDomains`` → domain name →
``NSIncludesSubdomains`` (boolean, default NO: one more label), ``NSPinnedLeafIdentities`` and
``NSPinnedCAIdentities`` (arrays of dictionaries holding ``SPKI-SHA256-BASE64``). How Apple
reads them, with the source lines, is in :mod:`certpin.config.ios_ats`; the importer is
:mod:`certpin.config.ios_import`, the exporter :mod:`certpin.config.ios_export`; every rule is
a row of ``docs/rules/ios.md``.
"""

from __future__ import annotations

from .ios_export import to_ios
from .ios_import import from_ios

__all__ = ["from_ios", "to_ios"]

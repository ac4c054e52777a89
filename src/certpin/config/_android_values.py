"""Android's value rules for a network security config: digest names, pin base64, dates.

Each rule follows the Android source, cited as ``FILE@COMMIT:LINE`` in
``aosp-mirror/platform_frameworks_base`` (the full table: ``docs/rules/android.md``):

* ``XmlConfigSource.java@0172a23b`` (``core/java/android/security/net/config/``): the parser;
* ``Pin.java@0cb8f014``: which digest names are accepted;
* ``NetworkSecurityTrustManager.java@3c096b3a``: when pins are enforced;
* ``core/java/android/util/Base64.java@8d312f32``: the base64 decoder.

Pure: no I/O. Nothing here is public API.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime, time, timedelta

from ..errors import quote

__all__ = [
    "EARLIEST_OFFSET",
    "FIRST_YEAR",
    "LATEST_OFFSET",
    "decode_pin",
    "digest_is_sha256",
    "expiration_for",
    "expiration_instant",
    "expiration_window",
    "java_trim",
    "parse_expiration",
]

# --- digest ----------------------------------------------------------------------------------


def _java_char_fold(c: str) -> tuple[str, str]:
    """``(Character.toUpperCase(c), Character.toLowerCase(c))`` for one character.

    Java maps one ``char`` to one ``char``: where Unicode's full mapping gives several
    characters (``"ß".upper() == "SS"``) Java leaves the character as it is.
    """
    up, low = c.upper(), c.lower()
    return (up if len(up) == 1 else c), (low if len(low) == 1 else c)


def java_equals_ignore_case(a: str, b: str) -> bool:
    """Java's ``String.equalsIgnoreCase``: same length, and each pair of characters is equal,
    or equal once upper-cased, or once upper- then lower-cased (Java SE API,
    ``String.equalsIgnoreCase`` and ``regionMatches``). ``"\u017fha-256"`` (with a long s)
    equals ``"SHA-256"``: Java upper-cases U+017F to ``S``.
    """
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        ux, uy = _java_char_fold(x)[0], _java_char_fold(y)[0]
        if ux != uy and _java_char_fold(ux)[1] != _java_char_fold(uy)[1]:
            return False
    return True


def digest_is_sha256(name: str | None) -> bool:
    """Whether Android accepts ``name`` as a ``<pin digest>``.

    ``Pin.isSupportedDigestAlgorithm`` is ``"SHA-256".equalsIgnoreCase(algorithm)``
    (``Pin.java@0cb8f014:40``); a missing attribute (null) is refused there too. Any other
    name (``SHA-1``, ``SHA-512``, ``" SHA-256"``) makes the parser throw
    (``XmlConfigSource.java@0172a23b:96-100``): the app's whole config fails to load.
    """
    return name is not None and java_equals_ignore_case(name, "SHA-256")


# --- pin base64 ------------------------------------------------------------------------------

#: What ``android.util.Base64`` reads with the ``DEFAULT`` flags (``Base64.java@8d312f32:184-201``,
#: the ``DECODE`` table): the 64 characters of RFC 4648's standard alphabet, and ``=``. Every
#: other byte of the UTF-8 text (``String.getBytes()``, line 121) is ``SKIP`` (-1, line 227):
#: white space, line breaks, ``-`` and ``_`` (the URL-safe characters, read only with
#: ``URL_SAFE``, line 61), any punctuation, any non-ASCII character.
_KEPT = re.compile(r"[^A-Za-z0-9+/=]")
_SHAPE = re.compile(r"([A-Za-z0-9+/]*)(=*)")

#: The padding the decoder's states accept after ``n % 4`` data characters of the last group
#: (``Base64.java@8d312f32``): no ``=`` after 0 or 1 of them (lines 321-339); after 2, exactly
#: two (lines 341-354, then 378-385; one alone fails at the end, lines 428-431); after 3,
#: exactly one (lines 356-376, then nothing but skipped characters, lines 387-392); and with no
#: padding, not 1 left over (lines 412-416).
_PADDING_OK = {(0, 0), (2, 0), (3, 0), (2, 2), (3, 1)}


def decode_pin(text: str) -> bytes:
    """The bytes ``android.util.Base64.decode(text, DEFAULT)`` returns, or ValueError.

    The ``<pin>`` text is trimmed and decoded with flags 0
    (``XmlConfigSource.java@0172a23b:104-110``). Characters outside the alphabet are skipped
    wherever they are, so a pin wrapped over lines or with spaces inside is the pin its
    alphabet characters spell. Padding is optional, but if present it must be the right
    amount, at the end (nothing but skipped characters after it). The low bits of the last
    character that do not fill a byte are dropped, not checked (lines 348, 368-369, 420, 426).

    Args:
        text: the text of the ``<pin>`` element.

    Returns:
        The decoded bytes, of any length (the caller checks for 32).

    Raises:
        ValueError: where Android throws ``IllegalArgumentException("bad base-64")``
            (``Base64.java@8d312f32:163-165``): the message says why.
    """
    kept = _KEPT.sub("", text)
    shape = _SHAPE.fullmatch(kept)
    if shape is None:
        raise ValueError("base64 characters after the '=' padding")
    data, pad = shape.groups()
    if (len(data) % 4, len(pad)) not in _PADDING_OK:
        raise ValueError(
            f"{len(data)} base64 characters with {len(pad)} '=' is not whole base64 "
            "(the padding, if any, must complete the last group of four)"
        )
    return base64.b64decode(data + "=" * (-len(data) % 4))


# --- trim ------------------------------------------------------------------------------------

_JAVA_TRIMMED = "".join(chr(i) for i in range(0x21))


def java_trim(text: str) -> str:
    """Java's ``String.trim()``: strip every character up to U+0020 from both ends (and no
    other: a no-break space stays)."""
    return text.strip(_JAVA_TRIMMED)


# --- expiration ------------------------------------------------------------------------------

#: The UTC offsets the time-zone database gives any zone today run from UTC-12
#: (``Etc/GMT+12``) to UTC+14 (``Pacific/Kiritimati``). Android parses ``expiration`` with
#: ``new SimpleDateFormat("yyyy-MM-dd")``, which uses the device's default zone
#: (``XmlConfigSource.java@0172a23b:129-135``): the date means local midnight there.
EARLIEST_OFFSET = timedelta(hours=14)
LATEST_OFFSET = timedelta(hours=-12)

#: Java's default calendar (``GregorianCalendar``) is Julian before 1582-10-15, so an earlier
#: date names another instant than ISO 8601's; certpin reads and writes dates from 1583 on.
FIRST_YEAR = 1583

_MILLISECOND = timedelta(milliseconds=1)
_DATE = re.compile(r"[ \t]*(\d{4}-\d{2}-\d{2})[ \t]*")


def parse_expiration(text: str) -> date:
    """The date of an ``expiration`` attribute.

    certpin reads the form Android documents, ``YYYY-MM-DD`` (ASCII digits; spaces or tabs
    around it are allowed, as ``SimpleDateFormat`` skips them before a number and ignores
    what follows the date), and refuses the rest, including forms Android's non-lenient
    ``SimpleDateFormat`` may also read (``2027-1-31``, other digits, text after the date):
    rewrite those as ``YYYY-MM-DD``.

    Raises:
        ValueError: another form, an impossible date (Android's non-lenient parser refuses
            those too, ``XmlConfigSource.java@0172a23b:130``), or a year before 1583.
    """
    m = _DATE.fullmatch(text)
    if m is None:
        raise ValueError(f"expected a date YYYY-MM-DD, got {quote(text, None)}")
    try:
        day = date.fromisoformat(m.group(1))
    except ValueError:
        raise ValueError(f"{quote(text, None)} is not a date") from None
    if day.year < FIRST_YEAR:
        raise ValueError(
            f"{quote(text, None)} is before {FIRST_YEAR}: Android's calendar is Julian before "
            "1582-10-15, so certpin reads dates from 1583 on"
        )
    return day


def expiration_window(day: date) -> tuple[datetime, datetime]:
    """The first and last instant at which ``expiration="day"`` can stop pinning (UTC).

    Android enforces while ``System.currentTimeMillis() <= expiration`` and ignores the pins
    once ``currentTimeMillis() > expirationTime`` (``NetworkSecurityTrustManager.java@3c096b3a``
    lines 100-104): a device at UTC+14 pins up to ``day - 1`` 10:00:00.000Z inclusive, one at
    UTC-12 up to ``day`` 12:00:00.000Z inclusive. This returns the first instant each of them
    no longer pins: ``(day - 1 10:00:00.001Z, day 12:00:00.001Z)``.
    """
    midnight = datetime.combine(day, time(0))
    first = (midnight - EARLIEST_OFFSET).replace(tzinfo=UTC) + _MILLISECOND
    last = (midnight - LATEST_OFFSET).replace(tzinfo=UTC) + _MILLISECOND
    return first, last


def expiration_instant(day: date) -> datetime:
    """The ``expires`` certpin imports for ``expiration="day"``: ``day`` 00:00 at UTC+14.

    That is the earliest instant the date can mean (``day - 1`` at 10:00Z): certpin stops
    enforcing no later than any device does, wherever it is (a device at UTC+14 still pins
    during the millisecond of that instant itself, as its check is ``now > expiration``), so
    the imported policy never refuses a connection the app would accept for want of pins.
    """
    return (datetime.combine(day, time(0)) - EARLIEST_OFFSET).replace(tzinfo=UTC)


def expiration_for(expires: datetime) -> date | None:
    """The latest ``expiration`` date with which no device pins after ``expires``.

    Android ends pinning last at UTC-12, from ``D`` 12:00:00.001Z on
    (:func:`expiration_window`); the date is the latest ``D`` with that instant at or before
    ``expires``, so every device stops pinning no later than the policy does.

    Returns:
        The date, or None if it would be before :data:`FIRST_YEAR`.
    """
    try:
        last_midnight = (expires.astimezone(UTC).replace(tzinfo=None) + LATEST_OFFSET
                         - _MILLISECOND)
    except OverflowError:  # before 0001-01-01 12:00Z
        return None
    day = last_midnight.date()
    return day if day.year >= FIRST_YEAR else None

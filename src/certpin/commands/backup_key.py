"""``certpin backup-key``: generate a backup key and CSR now, and print its pin for the policy.

The key is a leaf key (the server's own key, certified in a CSR for its names), so the output
gives its role too: a ``roles`` line for the host's table (``"leaf"``: the pin matches only the
end-entity certificate, :mod:`certpin.pinroles`). The pin itself is the last line.

Exit codes: 0 written, 2 bad usage, an existing file (never overwritten) or a write failure
(nothing is left behind). Never prints the key or the passphrase.
"""

from __future__ import annotations

import argparse

from ..errors import escape, quote

HELP = "generate a backup key pair and CSR for a future rotation and print its SPKI pin"

_MAX_PASSPHRASE = 64 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``certpin backup-key``."""
    from ..backup import KEY_TYPES

    parser.add_argument("--out", required=True, metavar="DIR", help="existing output directory")
    parser.add_argument("--cn", required=True, metavar="NAME", help="the CSR's common name")
    parser.add_argument(
        "--san", action="append", default=[], metavar="NAME",
        help="a subject alternative name (DNS name or IP address; repeatable)",
    )
    parser.add_argument("--type", choices=KEY_TYPES, default="p256", dest="key_type")
    parser.add_argument(
        "--passphrase-file", metavar="F",
        help="encrypt the private key with the passphrase in F (first line; trailing newline "
        "removed)",
    )
    parser.add_argument(
        "--private-ca", action="store_true",
        help="allow key types public CAs do not certify (ed25519), for a private CA",
    )


def _read_passphrase(path: str) -> bytes:
    from ..backup import BackupKeyError

    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_PASSPHRASE + 1)
    except OSError as exc:
        raise BackupKeyError(
            f"cannot read the passphrase file {quote(path, None)}: "
            f"{escape(exc.strerror or str(exc))}"
        ) from None
    if len(data) > _MAX_PASSPHRASE:
        raise BackupKeyError(f"the passphrase file {quote(path, None)} is too large")
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not line:
        raise BackupKeyError(f"the passphrase file {quote(path, None)} holds an empty first line")
    return line


def run(args: argparse.Namespace) -> int:
    """Run ``certpin backup-key``; return 0 on success (errors raise BackupKeyError -> 2)."""
    from ..backup import generate_backup_key

    passphrase = _read_passphrase(args.passphrase_file) if args.passphrase_file else None
    result = generate_backup_key(
        args.out,
        args.cn,
        sans=args.san,
        key_type=args.key_type,
        passphrase=passphrase,
        private_ca=args.private_ca,
    )
    state = "encrypted" if result.encrypted else "NOT encrypted: keep it offline"
    print(f"private key: {escape(str(result.key_path))} (mode 0600, {state})")
    print(f"CSR:         {escape(str(result.csr_path))}")
    # The pin stays the last line (scripts read it); the roles line comes before it.
    print("this is a leaf key: its pin is for the server's own certificate (role leaf, chain "
          "position 0); add this roles line next to backup_pins in the policy (or this entry "
          "to the host's roles table if it has one):")
    print(f'roles = {{ "{result.pin}" = "leaf" }}')
    print("add this pin to the policy's backup_pins now (before the key is deployed):")
    print(result.pin)
    return 0

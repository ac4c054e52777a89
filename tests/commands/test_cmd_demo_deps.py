"""``make demo`` installs certpin with the ``demo`` extra only (scripts/demo.sh, .venv-demo): the
demo must run with nothing beyond the standard library, cryptography and that extra (trustme,
certifi). This runs ``certpin demo`` in a child interpreter that refuses to import every other
third-party package the test environment has (the CLI's rich, the HTTP clients, ...)."""

from __future__ import annotations

import subprocess
import sys

# what `pip install '.[demo]'` brings: certpin, cryptography (and its cffi), trustme (and idna),
# certifi; everything else that is not the standard library is refused
ALLOWED = {"certpin", "cryptography", "cffi", "_cffi_backend", "pycparser", "trustme", "idna",
           "certifi"}

CHILD = f"""
import sys
ALLOWED = {sorted(ALLOWED)!r}
STDLIB = sys.stdlib_module_names

class Refuse:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in STDLIB or top in ALLOWED or top.startswith("_"):
            return None
        raise ImportError(f"the demo imported {{name!r}}, which the demo extra does not install")

sys.meta_path.insert(0, Refuse())
from certpin.cli import main
sys.exit(main(["demo"]))
"""


def test_demo_needs_only_the_demo_extra() -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "every step went as expected" in proc.stdout

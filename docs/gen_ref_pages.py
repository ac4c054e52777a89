"""Generate the API reference: one page per public module of ``src/certpin``.

Run by mkdocs-gen-files at build time. It walks the package, so a module added or split off
appears in the reference without editing a list. Skipped: modules and packages whose name starts
with ``_`` (private: ``_common``, ``_demo_server``, ...) and ``__main__``; a package's
``__init__.py`` becomes the package's own page.
"""

from __future__ import annotations

from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "certpin"

nav = mkdocs_gen_files.Nav()  # type: ignore[attr-defined, no-untyped-call]

for path in sorted(PACKAGE.rglob("*.py")):
    module_path = path.relative_to(SRC).with_suffix("")
    parts = tuple(module_path.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    # private anywhere in the dotted name (also __main__): not part of the public API
    if any(part.startswith("_") for part in parts):
        continue
    page = Path(*parts, "index.md") if is_package else Path(*parts).with_suffix(".md")
    doc_path = Path("reference", page)
    nav[parts] = page.as_posix()
    with mkdocs_gen_files.open(doc_path, "w") as fd:
        # the module's own heading (level 1) is the page title and the target of references
        fd.write(f"::: {'.'.join(parts)}\n")
    mkdocs_gen_files.set_edit_path(doc_path, path.relative_to(ROOT))

with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as nav_file:
    nav_file.writelines(nav.build_literate_nav())

"""The public API: certpin.__all__ is sorted and every name in it exists."""

from __future__ import annotations

import certpin


def test_all_is_sorted() -> None:
    assert certpin.__all__ == sorted(certpin.__all__)


def test_every_name_exists() -> None:
    missing = [name for name in certpin.__all__ if not hasattr(certpin, name)]
    assert missing == []


def test_policy_and_verify_names_are_exported() -> None:
    for name in ("PinSet", "PinPolicy", "check", "Verdict", "Outcome", "PinEvent"):
        assert name in certpin.__all__


def test_pure_core_imports_no_io_or_outer_layers() -> None:
    """policy and verify import neither ssl/socket nor any outer certpin layer (DESIGN.md)."""
    import ast
    from pathlib import Path

    outer = {"tls", "report", "context", "clients", "config", "probe", "health", "cli", "commands"}
    for module in ("policy", "verify"):
        path = Path(certpin.__file__).parent / f"{module}.py"
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
                elif node.module:
                    imported.add("." + node.module.split(".")[0])
        assert not imported & {"ssl", "_ssl", "socket", "asyncio", "urllib3", "requests"}, module
        assert not {"." + name for name in outer} & imported, (module, imported)

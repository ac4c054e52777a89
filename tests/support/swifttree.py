"""Small helpers to read Swift through the ``tree-sitter-swift`` grammar (the delegate checks).

Shapes of the grammar that the helpers rely on (``tree-sitter-swift`` 0.7, its
``src/node-types.json``): a function's code is ``function_declaration`` → field ``body``
(``function_body``) → ``statements``; ``if_statement`` and ``guard_statement`` have no block
node: their condition items carry the field ``condition`` (a ``guard let x = e`` item is three
such children), the then-body of an ``if`` is its first ``statements`` child and ``else`` is
followed by an ``if_statement`` or a ``statements`` child (for a ``guard``, the else-body); a
call is ``call_expression`` → callee, ``call_suffix`` → ``value_arguments`` → ``value_argument``
(fields ``name`` for the label and ``value``). An empty ``{ }`` has no ``statements`` child.

The grammar gets some operator precedences wrong (alex-pinkus/tree-sitter-swift issues #153,
#278, label ``ast-incorrect``): ``a == b && c == d`` parses as ``a == (b && (c == d))``. Code
checked here parenthesises such conditions, and the checks accept only exact shapes (a
condition item that is exactly a call), so a mis-parse can make them fail, never pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import tree_sitter_swift
from tree_sitter import Language, Node, Parser

LANGUAGE = Language(tree_sitter_swift.language())


def parse(source: str) -> Node:
    """The root ``source_file`` node of ``source``."""
    return Parser(LANGUAGE).parse(source.encode()).root_node


def text(node: Node | None) -> str:
    return "" if node is None else (node.text or b"").decode()


def line(node: Node) -> int:
    return node.start_point.row + 1


def walk(node: Node) -> Iterator[Node]:
    """``node`` and every node under it, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def of_type(node: Node, *types: str) -> list[Node]:
    return [n for n in walk(node) if n.type in types]


def ancestors(node: Node) -> Iterator[Node]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def is_within(node: Node, container: Node) -> bool:
    return node.id == container.id or any(a.id == container.id for a in ancestors(node))


def syntax_errors(root: Node) -> list[str]:
    """One line per ERROR or MISSING node (what the grammar could not parse)."""
    return [f"line {line(n)}: {'MISSING' if n.is_missing else 'ERROR'} {text(n)[:50]!r}"
            for n in walk(root) if n.is_error or n.is_missing]


# --- declarations --------------------------------------------------------------------------


def find_class(root: Node, name: str) -> Node | None:
    for node in of_type(root, "class_declaration"):
        if text(node.child_by_field_name("name")) == name:
            return node
    return None


def functions(scope: Node) -> list[Node]:
    """Every ``func`` declared in ``scope`` (nested types included)."""
    return of_type(scope, "function_declaration")


def name_of(fn: Node) -> str:
    return text(fn.child_by_field_name("name"))


def body(fn: Node) -> Node | None:
    """The ``statements`` of a function (None for an empty one)."""
    block = fn.child_by_field_name("body")
    if block is None:
        return None
    return next((c for c in block.named_children if c.type == "statements"), None)


def parameters(fn: Node) -> list[tuple[str, str, str]]:
    """``(external label, local name, type text)`` of each parameter; label ``_`` if unlabelled
    and the local name when the label is not written."""
    out = []
    for p in fn.named_children:
        if p.type != "parameter":
            continue
        names = [c for c in p.children_by_field_name("name") if c.type == "simple_identifier"]
        local = text(names[0]) if names else ""
        external = text(p.child_by_field_name("external_name")) or local
        colon = next(i for i, c in enumerate(p.children) if c.type == ":")
        kind = next((c for c in p.children[colon + 1:] if c.type != "parameter_modifiers"), None)
        out.append((external, local, text(kind)))
    return out


def bindings(scope: Node, name: str) -> list[tuple[str, Node | None]]:
    """``(let|var, value)`` of each ``let name = value`` / ``var name`` in ``scope``, including
    ``if let``/``guard let`` items (their value is the expression after ``=``)."""
    out: list[tuple[str, Node | None]] = []
    for node in of_type(scope, "property_declaration"):
        pattern = node.child_by_field_name("name")
        kind = next((c for c in node.children if c.type == "value_binding_pattern"), None)
        if text(pattern) == name:
            out.append((text(kind), node.child_by_field_name("value")))
    for node in of_type(scope, "if_statement", "guard_statement"):
        kids = node.children
        for i, kid in enumerate(kids):
            if (kid.type != "value_binding_pattern" or i + 1 >= len(kids)
                    or text(kids[i + 1]) != name):
                continue
            rest = kids[i + 2:]
            equals = next((j for j, c in enumerate(rest) if c.type == "="), None)
            value = rest[equals + 1] if equals is not None and equals + 1 < len(rest) else None
            out.append((text(kid), value))
    return out


# --- calls ---------------------------------------------------------------------------------


def callee(call: Node) -> str:
    """The called name as written, e.g. ``SecTrustEvaluateWithError``, ``Self.matches``."""
    return text(call.children[0])


def callee_base(call: Node) -> str:
    return callee(call).rsplit(".", 1)[-1]


def calls(scope: Node, name: str | None = None) -> list[Node]:
    """Calls in ``scope``, only those to ``name`` (last component of the callee) if given."""
    found = of_type(scope, "call_expression")
    return [c for c in found if name is None or callee_base(c) == name]


def arguments(call: Node) -> list[tuple[str | None, Node]]:
    """``(label or None, value)`` of each argument in the call's parentheses."""
    out: list[tuple[str | None, Node]] = []
    suffix = next((c for c in call.children if c.type == "call_suffix"), None)
    values = None if suffix is None else next(
        (c for c in suffix.children if c.type == "value_arguments"), None)
    for arg in [] if values is None else values.named_children:
        if arg.type != "value_argument":
            continue
        value = arg.child_by_field_name("value")
        if value is not None:
            out.append((text(arg.child_by_field_name("name")) or None, value))
    return out


def references(scope: Node, names: set[str]) -> list[Node]:
    """Identifiers in ``scope`` naming one of ``names``, used (not declared, not a label)."""
    out = []
    for node in of_type(scope, "simple_identifier", "type_identifier"):
        parent = node.parent
        if text(node) not in names or parent is None:
            continue
        if parent.type in ("value_argument_label", "function_declaration", "parameter"):
            continue
        out.append(node)
    return out


# --- control flow --------------------------------------------------------------------------


def condition_items(node: Node) -> list[Node]:
    """The first child of each comma-separated condition of an ``if`` or ``guard``."""
    out = []
    for child in node.children_by_field_name("condition"):
        before = child.prev_sibling
        if before is not None and before.type in ("if", "guard", ","):
            out.append(child)
    return out


def if_parts(node: Node) -> tuple[Node | None, Node | None]:
    """``(then statements, else node)`` of an ``if`` (else: an ``if_statement``, a
    ``statements`` or None); for a ``guard``, ``(None, else statements)``."""
    then: Node | None = None
    after_else = False
    for child in node.children:
        if child.type == "else":
            after_else = True
        elif after_else and child.type in ("statements", "if_statement"):
            return then, child
        elif child.type == "statements" and then is None and node.type == "if_statement":
            then = child
    return then, None


def else_chain(node: Node) -> list[tuple[Node | None, Node | None]]:
    """``(condition item or None, body)`` for each branch of an if / else if / else chain."""
    out: list[tuple[Node | None, Node | None]] = []
    current: Node | None = node
    while current is not None and current.type == "if_statement":
        items = condition_items(current)
        then, orelse = if_parts(current)
        out.append((items[0] if items else None, then))
        if orelse is not None and orelse.type == "statements":
            out.append((None, orelse))
            break
        current = orelse
    return out


def ends_with_exit(block: Node | None) -> bool:
    """The block's last statement is ``return`` or ``throw`` (a guard's else must leave)."""
    if block is None or not block.named_children:
        return False
    last = [c for c in block.named_children if c.type != "comment"][-1]
    return last.type == "control_transfer_statement" and text(last).split()[0] in (
        "return", "throw")


def runs_only_after(node: Node, stop: Node, holds: Callable[[Node], bool]) -> bool:
    """Whether ``node`` runs only once a condition item satisfying ``holds`` was true.

    True when, between ``node`` and ``stop``, some enclosing block has an earlier ``guard``
    with such an item (and an else that leaves), or ``node`` is in the then-body of an ``if``
    with such an item. A nested ``func`` in between makes it False (it can run from anywhere).
    """
    child = node
    for parent in ancestors(node):
        if parent.type == "statements":
            for sibling in parent.named_children:
                if sibling.id == child.id:
                    break
                if (sibling.type == "guard_statement"
                        and any(holds(c) for c in condition_items(sibling))
                        and ends_with_exit(if_parts(sibling)[1])):
                    return True
        elif parent.type == "if_statement":
            then, _ = if_parts(parent)
            if then is not None and then.id == child.id and any(
                    holds(c) for c in condition_items(parent)):
                return True
        elif parent.type == "function_declaration" and parent.id != stop.id:
            return False
        if parent.id == stop.id:
            return False
        child = parent
    return False

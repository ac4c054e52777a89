"""Pin roles in certpin's generated Swift delegate, read from its syntax tree.

The delegate's ``enum Role`` (``leaf``, ``ca``, ``anywhere``) has a ``switch self`` saying at
which chain positions a pin of each role may match, and ``PinSet.admits(_:at:)`` looks each
hash up in the set's ``spki``/``cert`` tables and asks the role found there. :func:`role_rule`
evaluates the switch for positions ``0..<POSITIONS`` (comparisons of the position with integer
literals, ``&&``, ``||``, ``!``, ``true``/``false``: anything else is reported, never guessed);
:func:`check_pin_roles` compares it with certpin's rule (``certpin.pinroles.role_admits``) and
checks that every ``return true`` of ``admits`` is guarded by the role of the pin it found, at
the position it was given. The tables are read by ``support.swiftchecks.pin_tables``.
"""

from __future__ import annotations

from tree_sitter import Node

from support.swifttree import (
    ancestors,
    arguments,
    callee,
    calls,
    condition_items,
    functions,
    line,
    name_of,
    of_type,
    parameters,
    parse,
    text,
)

#: positions the rule is evaluated at: a leaf, and CAs up to a long chain
POSITIONS = 8
#: the role each enum case stands for (``anywhere``: a pin without a role)
CASES: dict[str, str | None] = {"leaf": "leaf", "ca": "ca", "anywhere": None}
#: certpin's rule (certpin.pinroles.role_admits) on positions 0..<POSITIONS
EXPECTED: dict[str, frozenset[int]] = {
    "leaf": frozenset({0}),
    "ca": frozenset(range(1, POSITIONS)),
    "anywhere": frozenset(range(POSITIONS)),
}
_COMPARE = {"==": int.__eq__, "!=": int.__ne__, "<": int.__lt__, "<=": int.__le__,
            ">": int.__gt__, ">=": int.__ge__}


class Unreadable(ValueError):
    """An expression the evaluator does not read (reported as a problem)."""


def _evaluate(node: Node, var: str, position: int) -> bool | int:
    kind = node.type
    if kind == "boolean_literal":
        return text(node) == "true"
    if kind == "integer_literal":
        return int(text(node))
    if kind == "simple_identifier" and text(node) == var:
        return position
    if kind == "tuple_expression" and len(node.named_children) == 1:
        return _evaluate(node.named_children[0], var, position)
    if kind == "prefix_expression" and text(node.child_by_field_name("operation")) == "!":
        return not _evaluate(_need(node, "target"), var, position)
    if kind in ("conjunction_expression", "disjunction_expression"):
        lhs = bool(_evaluate(_need(node, "lhs"), var, position))
        rhs = bool(_evaluate(_need(node, "rhs"), var, position))
        return (lhs and rhs) if kind == "conjunction_expression" else (lhs or rhs)
    op = text(node.child_by_field_name("op"))
    if kind in ("equality_expression", "comparison_expression", "infix_expression") \
            and op in _COMPARE:
        lhs, rhs = (_evaluate(_need(node, f), var, position) for f in ("lhs", "rhs"))
        if type(lhs) is not int or type(rhs) is not int:
            raise Unreadable(text(node))
        return bool(_COMPARE[op](lhs, rhs))
    raise Unreadable(text(node))


def _need(node: Node, field: str) -> Node:
    child = node.child_by_field_name(field)
    if child is None:
        raise Unreadable(text(node))
    return child


def role_enum(root: Node) -> Node | None:
    return next((n for n in of_type(root, "class_declaration")
                 if text(n.child_by_field_name("declaration_kind")) == "enum"
                 and text(n.child_by_field_name("name")) == "Role"), None)


def role_rule(source: str) -> tuple[dict[str, frozenset[int]], list[str]]:
    """``{case: positions it admits}`` from ``enum Role``'s ``switch self``, and problems."""
    enum = role_enum(parse(source))
    if enum is None:
        return {}, ["no enum Role: the pin tables carry no roles"]
    cases = [text(e.child_by_field_name("name")) for e in of_type(enum, "enum_entry")]
    problems = [] if sorted(cases) == sorted(CASES) else [
        f"line {line(enum)}: enum Role has cases {cases}, expected {list(CASES)}"]
    fns = functions(enum)
    if len(fns) != 1 or len(parameters(fns[0])) != 1:
        return {}, [*problems, f"line {line(enum)}: enum Role needs one function of a position"]
    var = parameters(fns[0])[0][1]
    switches = of_type(fns[0], "switch_statement")
    if len(switches) != 1 or text(switches[0].child_by_field_name("expr")) != "self":
        return {}, [*problems, f"line {line(fns[0])}: {name_of(fns[0])} is not one switch self"]
    rule: dict[str, frozenset[int]] = {}
    for entry in of_type(switches[0], "switch_entry"):
        patterns = [text(p).lstrip(".") for p in of_type(entry, "pattern")
                    if p.parent is not None and p.parent.type == "switch_pattern"]
        block = next((c for c in entry.named_children if c.type == "statements"), None)
        body = [] if block is None else [c for c in block.named_children if c.type != "comment"]
        if not patterns or len(body) != 1 or text(body[0]).split()[0] != "return":
            problems.append(f"line {line(entry)}: `{text(entry)}` is not `case .role: return …`")
            continue
        result = body[0].child_by_field_name("result")
        try:
            admitted = frozenset(p for p in range(POSITIONS)
                                 if result is not None and _evaluate(result, var, p) is True)
        except Unreadable as e:
            problems.append(f"line {line(entry)}: cannot read `{e}`")
            continue
        for case in patterns:
            rule[case] = admitted
    return rule, problems


def check_role_rule(source: str) -> list[str]:
    """``enum Role``'s switch admits, for each case, exactly certpin's positions."""
    rule, problems = role_rule(source)
    for case, want in EXPECTED.items():
        got = rule.get(case)
        if got != want and not (got is None and problems):
            shown = "no case" if got is None else f"positions {sorted(got)}"
            problems.append(f"Role.{case}: {shown} of 0..<{POSITIONS}, certpin's rule is "
                            f"{sorted(want)}")
    return problems


def _guarded_by_role(ret: Node, position: str) -> bool:
    """``return true`` inside an ``if`` whose items bind ``let r = spki[..]``/``cert[..]`` and
    then call ``r.admits(at: position)``."""
    for node in ancestors(ret):
        if node.type != "if_statement":
            continue
        kids = node.children
        found = {text(kids[i + 1]) for i, k in enumerate(kids[:-3])
                 if k.type == "value_binding_pattern" and kids[i + 2].type == "="
                 and kids[i + 3].type == "call_expression"
                 and callee(kids[i + 3]) in ("spki", "cert")}
        for item in condition_items(node):
            if item.type == "call_expression" and callee(item) in {f"{r}.admits" for r in found} \
                    and [text(v) for _, v in arguments(item)] == [position] \
                    and [label for label, _ in arguments(item)] == ["at"]:
                return True
    return False


def check_pin_roles(source: str) -> list[str]:
    """The role rule (:func:`check_role_rule`); ``PinSet.admits(_:at:)`` answers true only
    through the role of the pin it looked up, at its own position; and each call of it passes
    the position of the loop over the chain."""
    problems = check_role_rule(source)
    root = parse(source)
    struct = next((n for n in of_type(root, "class_declaration")
                   if text(n.child_by_field_name("name")) == "PinSet"), None)
    admits = [] if struct is None else [f for f in functions(struct) if name_of(f) == "admits"]
    if len(admits) != 1 or [p[0] for p in parameters(admits[0])] != ["_", "at"]:
        return [*problems, "no PinSet.admits(_:at:)"]
    position = parameters(admits[0])[1][1]
    for ret in of_type(admits[0], "control_transfer_statement"):
        result = ret.child_by_field_name("result")
        if text(result) != "false" and not (text(result) == "true"
                                            and _guarded_by_role(ret, position)):
            problems.append(f"line {line(ret)}: `{text(ret)}` in admits is not decided by "
                            f"the role of the pin found, at `{position}`")
    for call in calls(root, "admits"):
        args = arguments(call)
        if [label for label, _ in args] != [None, "at"]:
            continue
        loop = next((a for a in ancestors(call) if a.type == "for_statement"), None)
        item = None if loop is None else text(loop.child_by_field_name("item"))
        if text(args[1][1]) != item:
            problems.append(f"line {line(call)}: admits is asked at `{text(args[1][1])}`, not "
                            "the position of the loop over the chain")
    return problems

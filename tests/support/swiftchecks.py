"""Properties of certpin's generated Swift delegate, checked on its syntax tree.

Each ``check_*`` takes Swift source and returns problems, one line each naming the Swift line;
an empty list means the property holds. ``tests/config/test_config_swift_tree.py`` runs them on
generated code and on mutants of it (each check must be able to fail). The doc comment's claims
are checked by :mod:`swiftdoc`.
"""

from __future__ import annotations

from collections.abc import Callable

from tree_sitter import Node

from support.swifttree import (
    ancestors,
    arguments,
    bindings,
    callee,
    calls,
    condition_items,
    find_class,
    functions,
    is_within,
    line,
    name_of,
    of_type,
    parameters,
    parse,
    references,
    runs_only_after,
    syntax_errors,
    text,
)

CLASS = "CertpinPinningDelegate"
EVALUATE = "SecTrustEvaluateWithError"
COPY_CHAIN = "SecTrustCopyCertificateChain"
COUNT, AT_INDEX = "SecTrustGetCertificateCount", "SecTrustGetCertificateAtIndex"
#: CryptoKit's hash types and CommonCrypto's digest functions (CC_SHA256, CC_SHA1, ...).
HASH_NAMES = frozenset({"SHA256", "SHA384", "SHA512", "Insecure", "CC_MD5"})


def is_hash_name(name: str) -> bool:
    return name in HASH_NAMES or name.startswith("CC_SHA")


class Delegate:
    """The parsed delegate: its class, challenge handlers and hashing functions."""

    def __init__(self, source: str) -> None:
        self.root = parse(source)
        cls = find_class(self.root, CLASS)
        if cls is None:
            raise LookupError(f"no class {CLASS}")
        self.cls = cls
        self.functions = functions(cls)
        #: every function with a URLAuthenticationChallenge parameter
        self.handlers = [fn for fn in self.functions
                         if any(t == "URLAuthenticationChallenge" for _, _, t in parameters(fn))]
        if not self.handlers:
            raise LookupError("no function takes a URLAuthenticationChallenge")
        self.hashing = self.hashing_functions()

    def hashing_functions(self, skip: Node | None = None) -> set[str]:
        """Names of the functions that hash, directly or by using one that does (uses inside
        ``skip`` not counted)."""
        found: set[str] = set()
        grew = True
        while grew:
            grew = False
            for fn in self.functions:
                uses = self.hash_uses(fn.child_by_field_name("body"), found)
                if name_of(fn) not in found and any(
                        skip is None or not is_within(u, skip) for u in uses):
                    found.add(name_of(fn))
                    grew = True
        return found

    def hash_uses(self, scope: Node | None, hashing: set[str] | None = None) -> list[Node]:
        """Identifiers in ``scope`` that hash: a hash API or a function in ``hashing``."""
        if scope is None:
            return []
        direct = [n for n in of_type(scope, "simple_identifier", "type_identifier")
                  if is_hash_name(text(n))]
        return direct + references(scope, self.hashing if hashing is None else hashing)

    def function_of(self, node: Node) -> Node | None:
        return next((a for a in ancestors(node) if a.type == "function_declaration"), None)


def evaluated_trust(item: Node) -> str | None:
    """``trust`` when a condition item is exactly ``SecTrustEvaluateWithError(trust, ...)``."""
    if item.type != "call_expression" or callee(item) != EVALUATE:
        return None
    args = arguments(item)
    if not args or args[0][1].type != "simple_identifier":
        return None
    return text(args[0][1])


def trust_of(handler: Node) -> str | None:
    """The variable whose evaluation guards the handler (a guard or if condition item)."""
    for node in of_type(handler, "guard_statement", "if_statement"):
        for item in condition_items(node):
            trust = evaluated_trust(item)
            if trust is not None:
                return trust
    return None


def _evaluates(trust: str | None) -> Callable[[Node], bool]:
    """A predicate on condition items: exactly ``SecTrustEvaluateWithError(trust, ...)``."""
    return lambda item: trust is not None and evaluated_trust(item) == trust


def check_syntax(source: str) -> list[str]:
    """The grammar parses the whole file: no ERROR or MISSING node."""
    return syntax_errors(parse(source))


def check_evaluated_before_hashing(source: str) -> list[str]:
    """In each challenge handler, every hash (CryptoKit, CommonCrypto, or a call of a function
    that hashes) and every ``.useCredential`` runs only after ``SecTrustEvaluateWithError``
    returned true; the trust object is a ``let``, and nothing changes it after evaluation."""
    try:
        d = Delegate(source)
    except LookupError as e:
        return [str(e)]
    problems: list[str] = []
    for handler in d.handlers:
        trust = trust_of(handler)
        if trust is None:
            problems.append(f"line {line(handler)}: {name_of(handler)} never guards on "
                            f"{EVALUATE}(trust, ...)")
            continue
        evaluated = _evaluates(trust)
        for use in d.hash_uses(handler.child_by_field_name("body")):
            if not runs_only_after(use, handler, evaluated):
                problems.append(f"line {line(use)}: `{text(use)}` hashes before {EVALUATE}"
                                f"({trust}) returned true")
        for call in calls(handler, "completionHandler"):
            args = arguments(call)
            if args and text(args[0][1]) == ".useCredential" and not runs_only_after(
                    call, handler, evaluated):
                problems.append(f"line {line(call)}: .useCredential before {EVALUATE}")
        for call in calls(d.cls):
            if callee(call).startswith("SecTrustSet") and runs_only_after(call, handler,
                                                                          evaluated):
                problems.append(f"line {line(call)}: {callee(call)} changes the trust after "
                                "it was evaluated")
        kinds = [kind for kind, _ in bindings(handler, trust)]
        if kinds != ["let"] or any(text(a.child_by_field_name("target")) == trust
                                   for a in of_type(handler, "assignment")):
            problems.append(f"line {line(handler)}: `{trust}` must be bound once, by let "
                            f"(found {kinds})")
    return problems


def _chain_problems(d: Delegate, loop: Node) -> tuple[set[str], list[str]]:
    """Element expressions of ``loop`` and problems with what it runs over: positions
    ``0..<chain.count`` of the evaluated chain (or of SecTrustGetCertificateCount(trust))."""
    var = text(loop.child_by_field_name("item"))
    seq = loop.child_by_field_name("collection")
    where = f"line {line(loop)}"
    fn = d.function_of(loop)
    assert fn is not None
    if seq is not None and seq.type == "simple_identifier":  # for certificate in chain
        return {var}, _copy_problems(d, text(seq), fn, where)
    if seq is None or seq.type != "range_expression":
        return set(), [f"{where}: the loop does not run over the chain or positions 0..<count "
                       f"(`for {var} in {text(seq)}`)"]
    start, op, end = (seq.child_by_field_name(f) for f in ("start", "op", "end"))
    if text(start) != "0" or text(op) != "..<" or end is None:
        return set(), [f"{where}: the loop runs over {text(seq)}, not 0..<count"]
    if end.type == "call_expression" and callee(end) == COUNT and arguments(end):
        trust = text(arguments(end)[0][1])
        return {f"{AT_INDEX}({trust}, {var})"}, _trust_problems(d, trust, fn, where)
    if not text(end).endswith(".count") or end.type != "navigation_expression":
        return set(), [f"{where}: the loop's end {text(end)} is not the chain's count"]
    chain = text(end.child_by_field_name("target"))
    return {f"{chain}[{var}]"}, _copy_problems(d, chain, fn, where)


def _origins(d: Delegate, name: str, fn: Node, depth: int = 0) -> list[tuple[Node, str]]:
    """``(function, name there)``: where a value called ``name`` in ``fn`` comes from,
    following parameters back through every call site in the class."""
    params = {local: external for external, local, _ in parameters(fn)}
    if name not in params or depth > 5:
        return [(fn, name)]
    out: list[tuple[Node, str]] = []
    for call in calls(d.cls, name_of(fn)):
        caller = d.function_of(call)
        arg = next((v for label, v in arguments(call) if label == params[name]), None)
        if caller is None or arg is None or arg.type != "simple_identifier":
            out.append((fn, f"<{text(call)}>"))
        else:
            out += _origins(d, text(arg), caller, depth + 1)
    return out or [(fn, f"<{name}: never passed>")]


def _trust_problems(d: Delegate, trust: str, fn: Node, where: str) -> list[str]:
    return [f"{where}: the chain is read from `{name}` in {name_of(f)}, not the evaluated trust"
            for f, name in _origins(d, trust, fn)
            if not any(f.id == h.id for h in d.handlers) or name != trust_of(f)]


def _strip(value: Node | None) -> Node | None:
    """``(X as? [SecCertificate]) ?? []`` -> X."""
    while value is not None:
        if value.type in ("tuple_expression", "parenthesized_expression") and \
                len(value.named_children) == 1:
            value = value.named_children[0]
        elif value.type == "as_expression":
            value = value.child_by_field_name("expr")
        elif value.type == "nil_coalescing_expression" and text(
                value.child_by_field_name("if_nil")) == "[]":
            value = value.child_by_field_name("value")
        else:
            return value
    return None


def _copy_problems(d: Delegate, chain: str, fn: Node, where: str) -> list[str]:
    problems = []
    for f, name in _origins(d, chain, fn):
        trust = trust_of(f) if any(f.id == h.id for h in d.handlers) else None
        found = bindings(f, name)
        value = _strip(found[0][1]) if len(found) == 1 else None
        ok = (trust is not None and value is not None and value.type == "call_expression"
              and callee(value) == COPY_CHAIN and [text(v) for _, v in arguments(value)] == [trust])
        if not ok:
            problems.append(f"{where}: `{name}` in {name_of(f)} is not "
                            f"{COPY_CHAIN}(trust) of the evaluated trust")
        elif value is not None and not runs_only_after(value, f, _evaluates(trust)):
            problems.append(f"line {line(value)}: the chain is copied before {EVALUATE}")
    return problems


def check_every_certificate_hashed(source: str) -> list[str]:
    """All hashing happens in one loop over positions 0..<count of the evaluated chain; its
    body hashes the certificate at the position first, unconditionally, and leaves only by
    ``return true`` once a match decided (no break, continue or other return)."""
    try:
        d = Delegate(source)
    except LookupError as e:
        return [str(e)]
    loops = [loop for loop in of_type(d.cls, "for_statement") if d.hash_uses(loop)]
    if len(loops) != 1:
        return [f"{len(loops)} loops hash certificates, expected one over the chain"]
    loop = loops[0]
    problems: list[str] = []
    outside = d.hashing_functions(skip=loop)
    for handler in d.handlers:
        for use in d.hash_uses(handler.child_by_field_name("body"), outside):
            if not is_within(use, loop):
                problems.append(f"line {line(use)}: `{text(use)}` hashes outside the loop over "
                                "the chain")
    elements, chain_problems = _chain_problems(d, loop)
    problems += chain_problems
    return problems + _loop_body_problems(d, loop, elements)


#: what may stand between the loop body and its hash call: `let x = f(g(element))`, no
#: condition, short-circuit operator or closure (any of those hashes on some paths only)
_PLAIN = frozenset({"property_declaration", "call_expression", "navigation_expression",
                    "navigation_suffix", "call_suffix", "value_arguments", "value_argument",
                    "as_expression", "tuple_expression"})


def _loop_body_problems(d: Delegate, loop: Node, elements: set[str]) -> list[str]:
    block = next((c for c in loop.named_children if c.type == "statements"), None)
    top = [] if block is None else [c for c in block.named_children if c.type != "comment"]
    first = next((i for i, s in enumerate(top) if d.hash_uses(s)), None)
    if block is None or first is None:
        return [f"line {line(loop)}: the loop body hashes nothing"]
    statement, problems = top[first], []
    use = d.hash_uses(statement)[0]
    if any(a.type not in _PLAIN for a in ancestors(use)
           if is_within(a, statement) and a.id != statement.id) or statement.type not in _PLAIN:
        problems.append(f"line {line(use)}: the certificate is hashed on some paths only")
    call = next((a for a in ancestors(use) if a.type == "call_expression"), None)
    args = [] if call is None else [" ".join(text(v).split()) for _, v in arguments(call)]
    derived = {text(decl.child_by_field_name("name"))
               for decl in of_type(block, "property_declaration")
               if decl.start_byte < use.start_byte
               and any(e in text(decl.child_by_field_name("value")) for e in elements)}
    if elements and not (elements | derived) & set(args):
        problems.append(f"line {line(use)}: hashes {args}, not the chain element "
                        f"{sorted(elements)}")
    bound = {text(n) for n in of_type(statement, "pattern")}
    for transfer in of_type(block, "control_transfer_statement") if block else []:
        word = text(transfer).split()[0]
        decided = transfer.start_byte > use.end_byte and any(
            a.type == "if_statement" and any(
                bound & {text(n) for n in of_type(c, "simple_identifier")} or d.hash_uses(c)
                for c in a.children_by_field_name("condition"))
            for a in ancestors(transfer) if is_within(a, block))
        if word in ("break", "continue") or text(transfer) != "return true" or not decided:
            problems.append(f"line {line(transfer)}: `{text(transfer)}` leaves the loop before "
                            "a match decides")
    return problems


# --- the pin tables ---------------------------------------------------------------------

#: pin base64 -> its role (None: ``.anywhere``, no role)
Roles = dict[str, str | None]
Row = tuple[Roles, Roles, bool, int | None]


def _roles(literal: Node) -> Roles:
    """``["b64": .leaf, ...]`` -> ``{"b64": "leaf"}``; ``.anywhere`` -> None; any other value
    is kept as written (so it never equals a role)."""
    out: Roles = {}
    for key, value in zip(literal.children_by_field_name("key"),
                          literal.children_by_field_name("value"), strict=True):
        role = text(value)
        out[text(key).strip('"')] = None if role == ".anywhere" else role.removeprefix(".")
    return out


def pin_tables(source: str) -> dict[str, dict[str, Row]]:
    """The ``exact``, ``oneLabelWildcard`` and ``includingSubdomains`` tables, from the tree:
    key -> (spki base64 -> role, cert base64 -> role, enforce, expiry as a UNIX time)."""
    tables: dict[str, dict[str, Row]] = {}
    for decl in of_type(parse(source), "property_declaration"):
        name, literal = (decl.child_by_field_name(f) for f in ("name", "value"))
        if text(name) not in ("exact", "oneLabelWildcard", "includingSubdomains"):
            continue
        assert literal is not None and literal.type == "dictionary_literal"
        rows: dict[str, Row] = {}
        for key, value in zip(literal.children_by_field_name("key"),
                              literal.children_by_field_name("value"), strict=True):
            args = {label: v for label, v in arguments(value)}
            seconds = [int(text(n)) for n in of_type(args["expires"], "integer_literal")]
            rows[text(key).strip('"')] = (
                _roles(args["spki"]), _roles(args["cert"]),
                text(args["enforce"]) == "true", seconds[0] if seconds else None)
        tables[text(name)] = rows
    return tables

"""PinSet roles: validation, read-only mapping, equality, hash, repr, copy and pickle."""

from __future__ import annotations

import copy
import pickle

import pytest

import certpin
from certpin import Pin, PinFormatError, PinSet, PolicyError
from certpin.pinroles import role_admits
from support.pinsets import pin


def test_roles_are_parsed_like_pins_and_held_read_only() -> None:
    s = PinSet([pin(1), pin(2)], backup_pins=[pin(3)],
               roles={str(pin(1)): "leaf", pin(3): "ca"})
    assert dict(s.roles) == {pin(1): "leaf", pin(3): "ca"}
    assert s.role_of(pin(1)) == "leaf"
    assert s.role_of(pin(2)) is None
    assert s.role_of(pin(3)) == "ca"
    assert s.role_of(pin(9)) is None
    with pytest.raises(TypeError):
        s.roles[pin(2)] = "leaf"  # type: ignore[index]


def test_roles_accept_every_pin_notation() -> None:
    s = PinSet([pin(1), pin(2)], roles={f'pin-sha256="{pin(2).base64}"': "ca"})
    assert dict(s.roles) == {pin(2): "ca"}


def test_no_roles_is_an_empty_mapping() -> None:
    assert dict(PinSet([pin(1), pin(2)]).roles) == {}
    assert dict(PinSet([pin(1), pin(2)], roles={}).roles) == {}


def test_a_role_for_a_pin_not_in_the_set_is_refused_naming_it() -> None:
    with pytest.raises(PolicyError, match=str(pin(9)).replace("+", r"\+")):
        PinSet([pin(1), pin(2)], roles={pin(9): "leaf"})


@pytest.mark.parametrize("bad", ["LEAF", "root", "", None, 1, "intermediate"])
def test_a_role_other_than_leaf_or_ca_is_refused(bad: object) -> None:
    with pytest.raises(PolicyError, match="'leaf' or 'ca'"):
        PinSet([pin(1), pin(2)], roles={pin(1): bad})  # type: ignore[dict-item]


def test_roles_must_be_a_mapping_and_keys_pins() -> None:
    with pytest.raises(PolicyError, match="mapping"):
        PinSet([pin(1), pin(2)], roles=[(pin(1), "leaf")])  # type: ignore[arg-type]
    with pytest.raises(PinFormatError, match="roles"):
        PinSet([pin(1), pin(2)], roles={"sha256/nope": "leaf"})
    with pytest.raises(PolicyError, match="given twice"):
        PinSet([pin(1), pin(2)], roles={pin(1): "leaf", f"sha256//{pin(1).base64}": "ca"})


def test_roles_take_part_in_equality_hash_and_repr() -> None:
    plain = PinSet([pin(1), pin(2)])
    leaf = PinSet([pin(1), pin(2)], roles={pin(1): "leaf"})
    ca = PinSet([pin(1), pin(2)], roles={pin(1): "ca"})
    assert plain != leaf and leaf != ca
    assert leaf == PinSet([pin(1), pin(2)], roles={str(pin(1)): "leaf"})
    assert hash(leaf) == hash(PinSet([pin(1), pin(2)], roles={str(pin(1)): "leaf"}))
    assert len({plain, leaf, ca}) == 3
    assert f"roles={{'{pin(1)}': 'leaf'}}" in repr(leaf)
    assert "roles" not in repr(plain)


@pytest.mark.parametrize("clone", [copy.copy, copy.deepcopy,
                                   lambda s: pickle.loads(pickle.dumps(s))])
def test_copies_carry_roles(clone: object) -> None:
    s = PinSet([pin(1), pin(2)], backup_pins=[pin(3)], roles={pin(1): "leaf", pin(3): "ca"})
    copied = clone(s)  # type: ignore[operator]
    assert copied == s
    assert dict(copied.roles) == {pin(1): "leaf", pin(3): "ca"}


def test_role_is_exported_and_admits_by_position() -> None:
    assert certpin.Role is certpin.policy.Role
    assert "Role" in certpin.__all__
    assert [role_admits("leaf", p) for p in (0, 1, 2)] == [True, False, False]
    assert [role_admits("ca", p) for p in (0, 1, 2)] == [False, True, True]
    assert [role_admits(None, p) for p in (0, 1, 2)] == [True, True, True]
    assert isinstance(pin(1), Pin)

"""The canonical model: defined once, and consistent enough for everything derived from it."""

from __future__ import annotations

import pytest

from crmmigrate.model import (
    ANY_ENTITY,
    MODEL,
    Entity,
    Field,
    FieldClass,
    FieldType,
    Model,
    ThresholdClass,
)

DESIGN_ENTITIES = (
    "account",
    "contact",
    "lead",
    "opportunity",
    "opportunity_contact_role",
    "case",
    "activity",
)


def test_the_model_has_the_entities_of_the_design():
    assert MODEL.names == DESIGN_ENTITIES


@pytest.mark.parametrize("entity", MODEL.entities, ids=MODEL.names)
def test_every_entity_has_a_required_key_id(entity):
    assert entity.field("id").required
    assert entity.field("id").cls is FieldClass.KEY


def test_pointers_name_their_targets():
    pointers = {(e.name, f.name): f.target for e in MODEL for f in e.pointers}
    assert pointers == {
        ("account", "parent_id"): "account",
        ("contact", "account_id"): "account",
        ("opportunity", "account_id"): "account",
        ("opportunity_contact_role", "opportunity_id"): "opportunity",
        ("opportunity_contact_role", "contact_id"): "contact",
        ("case", "account_id"): "account",
        ("case", "contact_id"): "contact",
        ("activity", "related_id"): ANY_ENTITY,
    }
    assert MODEL.entity("activity").field("related_id").target_from == "related_entity"


def test_load_order_puts_every_parent_before_its_children():
    order = MODEL.load_order()
    assert sorted(order) == sorted(DESIGN_ENTITIES)
    position = {name: i for i, name in enumerate(order)}
    for entity in MODEL:
        for parent in entity.parents(MODEL.names):
            assert position[parent] < position[entity.name], (parent, entity.name)
    assert order[0] == "account"
    assert order[-1] == "activity"


def test_key_fields_are_the_ones_the_design_names():
    keys = {e.name: [f.name for f in e.keys] for e in MODEL}
    assert keys["account"] == ["id", "name"]
    assert keys["contact"] == ["id", "last_name"]


def test_every_lead_field_is_judged_as_a_lead_field():
    lead = MODEL.entity("lead")
    assert {lead.threshold_class(n) for n in lead.field_names} == {ThresholdClass.LEAD}
    contact = MODEL.entity("contact")
    assert contact.threshold_class("email") is ThresholdClass.GENERAL
    assert contact.threshold_class("last_name") is ThresholdClass.KEY
    assert contact.threshold_class("account_id") is ThresholdClass.POINTER


def test_children_of_account_include_the_polymorphic_activity_pointer():
    assert set(MODEL.children("account")) == {
        ("account", "parent_id"),
        ("contact", "account_id"),
        ("opportunity", "account_id"),
        ("case", "account_id"),
        ("activity", "related_id"),
    }


def test_activity_types_are_the_design_picklist():
    assert MODEL.entity("activity").field("type").choices == (
        "call", "email", "meeting", "visit", "task",
    )


def test_only_accounts_and_contacts_are_deduped_by_default():
    assert [e.name for e in MODEL if e.dedupe] == ["account", "contact"]


def test_a_pointer_to_an_unknown_entity_is_a_model_error():
    bad = Entity("x", (Field("id", FieldType.ID, cls=FieldClass.KEY),
                       Field("y_id", cls=FieldClass.POINTER, target="nowhere")))
    with pytest.raises(ValueError, match="unknown 'nowhere'"):
        Model((bad,))


def test_a_pointer_cycle_between_entities_is_a_model_error():
    a = Entity("a", (Field("id"), Field("b_id", cls=FieldClass.POINTER, target="b")))
    b = Entity("b", (Field("id"), Field("a_id", cls=FieldClass.POINTER, target="a")))
    with pytest.raises(ValueError, match="pointer cycle"):
        Model((a, b))


def test_a_field_defined_twice_is_a_model_error():
    with pytest.raises(ValueError, match="twice"):
        Entity("x", (Field("id"), Field("id")))

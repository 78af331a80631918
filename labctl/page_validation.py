"""An event-page validator that accepts and refuses exactly what event-model's does, at a fraction of the cost.

The RunEngine validates every event page it composes against event-model's JSON schema. That schema reaches
its fields through ``allOf``/``$ref``, forbids others with ``unevaluatedProperties`` and gives every data
column an (empty) ``items`` schema, so jsonschema builds a validator per array element, twice over: about
53 µs per row of a three-column page (1.4 µs here), which held the RunEngine near 18,000 rows/s before any
subscriber saw a row.

:func:`install` derives a flat schema from event-model's own (same fields, same types, same required keys,
nothing else allowed) and registers a validator for it with event-model's own type checker, in
``event_model.schema_validators``, the registry ``ComposeEventPage`` consults. Arrays whose items schema is a
single type are checked in one loop; the first bad element falls back to jsonschema's own ``items`` so the
error reads as it always did. If event-model ever ships a schema of another shape, nothing is replaced.
"""

from __future__ import annotations

import logging
from typing import Any

import event_model
from jsonschema import validators
from jsonschema.exceptions import SchemaError

log = logging.getLogger(__name__)

#: Keywords that annotate a schema without constraining anything.
_ANNOTATIONS = frozenset({"title", "description", "default", "$comment", "examples"})
#: Keywords a flattened object schema may carry, besides annotations.
_FLAT_OBJECT_KEYS = frozenset({"type", "properties", "required"})
_STANDARD_ITEMS = validators.Draft202012Validator.VALIDATORS["items"]
#: Event-model's validator class (its type checker takes numpy arrays and tuples as arrays).
_UPSTREAM = type(event_model.schema_validators[event_model.DocumentNames.event_page])
_installed = None


def _items(validator, items, instance, schema):
    """jsonschema's ``items``, with one fast loop when every element need only be of one type."""
    if (isinstance(items, dict) and len(items) == 1 and isinstance(items.get("type"), str)
            and "prefixItems" not in schema and validator.is_type(instance, "array")):
        is_type, kind = validator.is_type, items["type"]
        if all(is_type(element, kind) for element in instance):
            return
    yield from _STANDARD_ITEMS(validator, items, instance, schema)


def _strip(schema: Any) -> Any:
    """*schema* without annotations, and without ``items`` schemas that accept anything."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS or (key == "items" and value in ({}, True)):
            continue
        if key in ("properties", "$defs"):
            out[key] = {name: _strip(sub) for name, sub in value.items()}
        elif isinstance(value, dict):
            out[key] = _strip(value)
        else:
            out[key] = value
    return out


def flat_event_page_schema(schema: dict) -> dict:
    """The event-page *schema* with its ``allOf`` references merged into one closed object schema.

    Raises ``ValueError`` when *schema* uses anything beyond the ``properties``/``required``/``allOf`` of
    local references and ``unevaluatedProperties: false`` that this merge is exact for.
    """
    schema = _strip(schema)
    defs = schema.pop("$defs", {})
    parts = [schema]
    for ref in schema.pop("allOf", []):
        name = ref.get("$ref", "") if set(ref) == {"$ref"} else ""
        if not name.startswith("#/$defs/") or name[len("#/$defs/"):] not in defs:
            raise ValueError(f"allOf entry {ref!r} is not a local reference")
        parts.append(defs[name[len("#/$defs/"):]])
    if schema.pop("unevaluatedProperties", None) is not False:
        raise ValueError("the schema does not forbid unevaluated properties")
    properties: dict[str, Any] = {}
    required: set[str] = set()
    for part in parts:
        extra = set(part) - _FLAT_OBJECT_KEYS
        if extra or part.get("type", "object") != "object":
            raise ValueError(f"cannot merge keywords {sorted(extra)} of {part!r}")
        for name, sub in part.get("properties", {}).items():
            if name in properties and properties[name] != sub:
                raise ValueError(f"property {name!r} is defined twice, differently")
            properties[name] = sub
        required.update(part.get("required", ()))
    return {"type": "object", "properties": properties, "required": sorted(required),
            "additionalProperties": False}


def fast_event_page_validator():
    """A validator for event pages built from event-model's installed schema and type checker."""
    schema = flat_event_page_schema(event_model.schemas[event_model.DocumentNames.event_page])
    cls = validators.extend(_UPSTREAM, validators={"items": _items})
    cls.check_schema(schema)
    return cls(schema)


def install() -> bool:
    """Register the fast validator for event pages (idempotent); False, and upstream's kept, if it cannot."""
    global _installed
    registry = event_model.schema_validators
    if _installed is not None and registry[event_model.DocumentNames.event_page] is _installed:
        return True
    try:
        _installed = fast_event_page_validator()
    except (ValueError, KeyError, SchemaError) as exc:
        log.warning("event-page validation left as event-model has it: %s", exc)
        return False
    registry[event_model.DocumentNames.event_page] = _installed
    return True

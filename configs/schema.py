"""JSON Schema handling for config values: defaults, validation, secret field paths.

A secret is a string property marked ``"writeOnly": true``. Its path is the
dotted chain of property names from the root (``llm.api_key``); secrets
inside arrays are not supported (check_template_schema refuses them).

A ``$ref`` may only point inside the schema itself (``#/$defs/…``): every
validator here uses a registry that retrieves nothing, so no schema makes the
server fetch a URL or read a file, and a reference that resolves to nothing is
a ConfigValidationError, never a crash.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from kefu import crypto
from kefu.validators import control_character_in_json

from .constants import SECRET_PLACEHOLDER
from .exceptions import ConfigValidationError


def _extend_with_default(validator_class):
    """A validator that, while validating, fills each missing property that has a ``default``."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if validator.is_type(instance, "object"):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


FillingValidator = _extend_with_default(Draft202012Validator)

# No retrieval: a reference outside the schema is Unresolvable instead of an HTTP request or a file read
# (jsonschema's default registry still fetches remote references).
NO_RETRIEVAL = Registry()


def _validator(schema: dict, *, filling: bool = False):
    cls = FillingValidator if filling else Draft202012Validator
    return cls(schema, format_checker=FormatChecker(), registry=NO_RETRIEVAL)


def _unresolvable(exc: Unresolvable) -> ConfigValidationError:
    # The message never quotes the exception: its text includes the schema (or what a
    # file or URL held).
    ref = str(getattr(exc, "ref", "") or "")[:200]
    return ConfigValidationError(
        _("The template's reference %(ref)s cannot be resolved; fix the template.") % {"ref": ref},
        detail=[{"path": "schema", "message": f"unresolvable $ref {ref}"}],
    )


def _endless() -> ConfigValidationError:
    # check_template_schema refuses such a schema; the validators also meet one stored before it did.
    return ConfigValidationError(
        _("The template's schema refers to itself in a loop ($ref) that never reaches a value; fix the template."),
        detail=[{"path": "schema", "message": "$ref loop"}],
    )


def schema_errors(schema: dict, document: Any) -> list:
    """Every error of ``document`` under ``schema``.

    ConfigValidationError for a reference that resolves to nothing or loops.
    """
    try:
        return list(_validator(schema).iter_errors(document))
    except Unresolvable as exc:
        raise _unresolvable(exc) from None
    except RecursionError:
        raise _endless() from None


def fill_defaults(schema: dict, document: dict, *, strict: bool = True) -> dict:
    """Fill, in place, every missing property that has a schema ``default``; returns ``document``.

    With ``strict`` a reference that resolves to nothing or loops raises
    ConfigValidationError; without it (reads) filling just stops there.
    """
    try:
        # The filling pass may report errors on a half-filled document: they are not looked at here.
        list(_validator(schema, filling=True).iter_errors(document))
    except Unresolvable as exc:
        if strict:
            raise _unresolvable(exc) from None
    except RecursionError:
        if strict:
            raise _endless() from None
    return document


def _check_refs(schema: dict) -> None:
    """Refuse a ``$ref`` (or ``$dynamicRef``) that points outside the schema or to nothing in it."""
    root = DRAFT202012.create_resource(schema)

    def walk(resource, resolver):
        contents = resource.contents
        if isinstance(contents, dict):
            for keyword in ("$ref", "$dynamicRef"):
                ref = contents.get(keyword)
                if ref is None:
                    continue
                if not isinstance(ref, str) or not ref.startswith("#"):
                    raise ConfigValidationError(
                        _("A reference may only point inside the template's schema (\"#/$defs/…\"), "
                          "not to %(ref)s.") % {"ref": str(ref)[:200]},
                        detail=[{"path": "schema", "message": f"non-local {keyword} {str(ref)[:200]}"}],
                    )
                try:
                    resolver.lookup(ref)
                except Unresolvable:
                    raise ConfigValidationError(
                        _("The reference %(ref)s points to nothing in the template's schema.") % {"ref": ref[:200]},
                        detail=[{"path": "schema", "message": f"unresolvable {keyword} {ref[:200]}"}],
                    ) from None
        for sub in resource.subresources():
            walk(sub, resolver.in_subresource(sub))

    walk(root, NO_RETRIEVAL.resolver_with_root(root))


# Keywords that apply a subschema to the same value, not to a part of it: a loop
# through them alone (a $ref back to an enclosing schema) never ends.
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_ONE = ("not", "if", "then", "else")


def _in_place_subschemas(node: dict, resolver) -> Iterator[dict]:
    found = []
    for keyword in _IN_PLACE_LISTS:
        if isinstance(node.get(keyword), list):
            found.extend(node[keyword])
    found.extend(node.get(keyword) for keyword in _IN_PLACE_ONE)
    if isinstance(node.get("dependentSchemas"), dict):
        found.extend(node["dependentSchemas"].values())
    for keyword in ("$ref", "$dynamicRef"):
        if isinstance(node.get(keyword), str):
            with contextlib.suppress(Unresolvable):  # _check_refs reports it
                found.append(resolver.lookup(node[keyword]).contents)
    return (sub for sub in found if isinstance(sub, dict))


def _check_ref_loops(schema: dict) -> None:
    """Refuse a ``$ref`` that leads back to where it started without applying to a property or an item.

    Validating any value would follow such a loop until Python's stack runs out.
    """
    resolver = NO_RETRIEVAL.resolver_with_root(DRAFT202012.create_resource(schema))
    nodes, pending = [], [schema]
    while pending:  # every subschema, wherever it sits
        node = pending.pop()
        if isinstance(node, dict):
            nodes.append(node)
            pending.extend(value for key, value in node.items() if key not in _DATA_KEYWORDS)
        elif isinstance(node, list):
            pending.extend(node)
    done: set[int] = set()
    for start in nodes:
        if id(start) in done:
            continue
        on_path, stack = {id(start)}, [(start, _in_place_subschemas(start, resolver))]
        while stack:  # depth first, without recursion
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(id(node))
                done.add(id(node))
            elif id(child) in on_path:
                raise _endless()
            elif id(child) not in done:
                on_path.add(id(child))
                stack.append((child, _in_place_subschemas(child, resolver)))


def _walk_secrets(schema: dict, prefix: str, in_array: bool) -> Iterator[tuple[str, bool]]:
    if not isinstance(schema, dict):
        return
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        path = f"{prefix}.{name}" if prefix else name
        if sub.get("writeOnly"):
            yield path, in_array
        yield from _walk_secrets(sub, path, in_array)
    items = schema.get("items")
    if isinstance(items, dict):
        yield from _walk_secrets(items, prefix + "[]", True)


def secret_paths(schema: dict) -> list[str]:
    """Dotted paths of the secret (``writeOnly``) properties of ``schema``."""
    return sorted(path for path, in_array in _walk_secrets(schema, "", False) if not in_array)


# Keywords whose values are data, not schemas: a "writeOnly" inside them declares nothing.
_DATA_KEYWORDS = frozenset({"default", "const", "enum", "examples"})
# Keywords that would publish a secret's value to everyone who reads the template.
_VALUE_KEYWORDS = ("default", "const", "enum", "examples")


# Keywords whose values map names to schemas: their keys are names (a property may be
# called "writeOnly"), their values are schemas.
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def _write_only_pointers(node: Any, pointer: str = "") -> Iterator[str]:
    """The JSON pointer of every subschema marked ``writeOnly``, wherever it sits."""
    if isinstance(node, dict):
        if node.get("writeOnly") is True:
            yield pointer
        for key, value in node.items():
            if key in _NAME_MAPS and isinstance(value, dict):
                for name, subschema in value.items():
                    yield from _write_only_pointers(subschema, f"{pointer}/{key}/{name}")
            elif key not in _DATA_KEYWORDS:
                yield from _write_only_pointers(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _write_only_pointers(value, f"{pointer}/{index}")


def _property_chain(schema: dict, names: tuple[str, ...] = (), pointer: str = "") -> Iterator[
        tuple[str, tuple[str, ...], str, dict]]:
    """(dotted path, names, pointer, subschema) of each property reached through "properties" from the root."""
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            here, at = (*names, name), f"{pointer}/properties/{name}"
            yield ".".join(here), here, at, sub
            yield from _property_chain(sub, here, at)


def _check_secrets(schema: dict, defaults: dict) -> None:
    """Refuse a secret the app could not find, encrypt or keep secret.

    1. ``writeOnly`` only counts on a property reached through ``properties``
       from the root: elsewhere ($ref, allOf, additionalProperties…) its path is
       unknown, so the value would be stored and shown in clear.
    2. A secret is text, and no name on its path has a dot (paths are dotted).
    3. No secret has a value in the template (template defaults, a schema
       ``default``/``const``/``enum``/``examples``, a parent object's default):
       every signed-in user reads templates.
    """
    chain = list(_property_chain(schema))
    declared = {pointer for _path, _names, pointer, sub in chain if sub.get("writeOnly")}
    stray = [pointer or "/" for pointer in _write_only_pointers(schema) if pointer not in declared]
    if stray:
        raise ConfigValidationError(
            _("A secret (\"writeOnly\") must be declared on a property reached through \"properties\" from the "
              "root, not through $ref, allOf, additionalProperties or the like: %(where)s")
            % {"where": ", ".join(stray)},
            detail=[{"path": "schema", "message": f"writeOnly at {pointer}"} for pointer in stray],
        )
    secrets = [(path, names, sub) for path, names, _pointer, sub in chain if sub.get("writeOnly")]
    dotted = [path for path, names, _sub in secrets if any("." in name for name in names)]
    if dotted:
        raise ConfigValidationError(
            _("A secret's name, and the names of the objects holding it, cannot contain a dot: %(paths)s")
            % {"paths": ", ".join(dotted)})
    not_text = [path for path, _names, sub in secrets if sub.get("type") != "string"]
    if not_text:
        raise ConfigValidationError(
            _("A secret (\"writeOnly\") must be a text property (\"type\": \"string\"): %(paths)s")
            % {"paths": ", ".join(not_text)})
    paths = [path for path, _names, _sub in secrets]
    given = {path for path, _names, sub in secrets if any(keyword in sub for keyword in _VALUE_KEYWORDS)}
    given.update(path for path in paths if get_path(defaults, path) not in (None, ""))
    for parent, _names, _pointer, sub in [("", (), "", schema), *chain]:
        if isinstance(sub.get("default"), dict):
            for path in paths:
                inside = path if parent == "" else path[len(parent) + 1:] if path.startswith(parent + ".") else None
                if inside is not None and get_path(sub["default"], inside) not in (None, ""):
                    given.add(path)
    if given:
        raise ConfigValidationError(
            _("A secret cannot be given a default or example value in the template (%(paths)s): every signed-in "
              "user can read templates. Set the secret in each config instead.")
            % {"paths": ", ".join(sorted(given))},
            detail=[{"path": p, "message": "a secret cannot have a value in the template"} for p in sorted(given)],
        )


def check_text(document: Any, *, where: str = "") -> None:
    """Refuse a key or a string holding a control character (PostgreSQL cannot store a NUL in JSON).

    ``where`` prefixes the path named in the error (``schema``, ``value``); the
    message names the character and its position, never the text.
    """
    found = control_character_in_json(document)
    if found is None:
        return
    path, error = found
    path = ".".join(filter(None, (where, path))) or "(root)"
    raise ConfigValidationError.from_validation_error(error, field=path)


def check_template_schema(schema: Any, defaults: Any) -> None:
    """Refuse a schema that is not a valid JSON Schema for an object, or defaults that break it.

    Also refused: control characters, references outside the schema or to
    nothing, secrets inside arrays, and every secret ``_check_secrets`` refuses.
    """
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ConfigValidationError(_("A template schema must be a JSON object with \"type\": \"object\"."),
                                    detail=[{"path": "schema", "message": "root type must be object"}])
    check_text(schema, where="schema")
    check_text(defaults, where="defaults")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ConfigValidationError(
            _("The template schema is not valid JSON Schema: %(error)s") % {"error": exc.message},
            detail=[{"path": "schema", "message": exc.message}],
        ) from None
    _check_refs(schema)
    _check_ref_loops(schema)
    in_arrays = [path for path, in_array in _walk_secrets(schema, "", False) if in_array]
    if in_arrays:
        raise ConfigValidationError(
            _("Secret fields inside arrays are not supported: %(paths)s") % {"paths": ", ".join(in_arrays)}
        )
    if not isinstance(defaults, dict):
        raise ConfigValidationError(_("Template defaults must be a JSON object."))
    _check_secrets(schema, defaults)
    fill_and_validate(schema=schema, values=defaults, secrets=secret_paths(schema))


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``; nested objects merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _error_path(error) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(root)"


def fill_and_validate(*, schema: dict, values: Any, secrets: list[str] = (), defaults: dict | None = None) -> dict:
    """Return ``values`` with template defaults and schema defaults filled in, or raise.

    Raises ConfigValidationError with ``detail`` = ``[{path, message}]``
    (also for a control character, see ``check_text``); a message about a
    secret field never quotes the value.
    """
    if not isinstance(values, dict):
        raise ConfigValidationError(
            _("Config values must be a JSON object."), detail=[{"path": "(root)", "message": "must be an object"}]
        )
    check_text(values)
    document = deep_merge(defaults or {}, values)
    # Fill first, then validate the filled document on its own.
    fill_defaults(schema, document)
    raise_for_errors(schema=schema, document=document, secrets=secrets)
    return document


def redact(message: str, plains: list[str]) -> str:
    """``message`` with every secret value (as written and as Python quotes it) replaced by ***."""
    for plain in sorted(plains, key=len, reverse=True):
        for form in {plain, repr(plain)[1:-1], json.dumps(plain, ensure_ascii=False)[1:-1]}:
            if form:
                message = message.replace(form, "***")
    return message


def raise_for_errors(*, schema: dict, document: dict, secrets: list[str] = (),
                     message: str | None = None) -> None:
    """Raise ConfigValidationError listing every schema error; no message quotes a secret.

    jsonschema messages quote the offending instance, and an error on an
    object (``minProperties``, ``anyOf``…) quotes the secrets inside it, so
    every message is redacted, and errors on a secret itself say only which rule failed.
    """
    errors = sorted(schema_errors(schema, document), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    plains = [v for v in (get_path(document, p) for p in secrets) if isinstance(v, str) and v]
    detail = []
    for error in errors:
        path = _error_path(error)
        if any(path == s or path.startswith(s + ".") for s in secrets):
            text = _("invalid value (%(rule)s); the value is secret and not shown") % {"rule": error.validator}
        else:
            text = redact(error.message, plains)
        detail.append({"path": path, "message": text})
    first = detail[0]
    raise ConfigValidationError(
        message or _("The values do not match the template: %(path)s: %(message)s") % first, detail=detail
    )


_ABSENT = object()


def get_path(document: dict, path: str, default=None):
    """The value at dotted ``path``, or ``default`` when any step is missing."""
    node = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def has_path(document: dict, path: str) -> bool:
    return get_path(document, path, _ABSENT) is not _ABSENT


def set_path(document: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def remove_path(document: dict, path: str) -> None:
    """Remove the value at dotted ``path`` from ``document`` if it is there."""
    *parents, leaf = path.split(".")
    node = document
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)


def secret_context(path: str) -> str:
    """Associated data bound to a secret's ciphertext: the field path, not the row, so exports move."""
    return f"configs.userconfig.values:{path}"


def encrypt_secret(path: str, plain: str) -> str:
    return crypto.encrypt(plain, context=secret_context(path))


def decrypt_secret(path: str, ciphertext: str) -> str:
    return crypto.decrypt(ciphertext, context=secret_context(path))


def mask_value(path: str, stored) -> str:
    """How a stored secret is shown: ``sk-…a1b2`` for a long one, ``…****`` otherwise."""
    if stored in (None, ""):
        return ""
    if crypto.is_ciphertext(stored):
        try:
            return crypto.mask_secret(decrypt_secret(path, stored))
        except crypto.DecryptionError:
            return SECRET_PLACEHOLDER
    return SECRET_PLACEHOLDER


def mask_shown(value):
    """A value recorded as shown (history written before its field became secret), masked; a mask stays as it is."""
    if value in (None, ""):
        return value
    if isinstance(value, str):
        if value == SECRET_PLACEHOLDER or ("…" in value and len(value) <= 8):  # already a mask_secret() result
            return value
        return crypto.mask_secret(value)
    return SECRET_PLACEHOLDER


def masked(document: dict | None, paths: list[str]) -> dict | None:
    """A copy of a stored document with every secret path masked."""
    if document is None:
        return None
    copy_ = copy.deepcopy(document)
    for path in paths:
        if has_path(copy_, path):
            set_path(copy_, path, mask_value(path, get_path(copy_, path)))
    return copy_


def json_copy(value: Any) -> Any:
    # A stored document is JSON (dicts, lists, scalars): copied without deepcopy's general machinery, which
    # cost more than the rest of a settings read.
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


def decrypted(document: dict, paths: list[str]) -> dict:
    """A copy of a stored document with every secret path in clear (for the code that uses the secret)."""
    copy_ = json_copy(document)
    for path in paths:
        stored = get_path(copy_, path)
        if crypto.is_ciphertext(stored):
            set_path(copy_, path, decrypt_secret(path, stored))
    return copy_

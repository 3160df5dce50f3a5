#!/usr/bin/env python3
"""Writes the synthetic descriptions behind tests/recursive_schemas.rs and
scripts/bench-recursive.sh: request and response bodies whose schemas refer to
each other, recursively and with fan-out, the shapes that once made `validate`
expand schemas without end.

    python3 scripts/gen-recursive-fixtures.py [OUT_DIR] [--big]

Without --big it writes the small set committed in tests/fixtures/recursive
(each description under 500 kB); --big writes descriptions of 1 to 2 MB, the
size of the real documents that once took gigabytes, for the benchmark.

Each description comes with an Arazzo document whose steps send deep payloads,
replace deep targets and read deep response pointers, so every check that
walks a schema (request building, body checks, response lints) meets the
recursion. The output is deterministic.
"""
import json
import os
import sys


def mutual(n):
    """N object schemas, each naming the next ones through properties, arrays,
    allOf, oneOf and anyOf: every schema reaches every other one."""
    schemas = {}
    for i in range(n):
        nxt = lambda k: {"$ref": f"#/components/schemas/S{(i + k) % n}"}
        schemas[f"S{i}"] = {
            "type": "object",
            "required": ["kind"],
            "properties": {
                "kind": {"type": "string", "enum": [f"s{i}", "any"]},
                "a": nxt(1),
                "b": nxt(2),
                "list": {"type": "array", "items": nxt(3)},
                "map": {"type": "object", "additionalProperties": nxt(4)},
                "either": {"oneOf": [nxt(5), nxt(6), {"type": "null"}]},
                "any": {"anyOf": [nxt(7), nxt(8)]},
            },
            "allOf": [{"$ref": f"#/components/schemas/Base{i % 7}"}],
        }
    for j in range(7):
        schemas[f"Base{j}"] = {
            "type": "object",
            "properties": {
                "meta": {"$ref": f"#/components/schemas/S{(j * 5) % n}"},
                f"tag{j}": {"type": "string"},
            },
        }
    return schemas


def fanout(levels):
    """F0 = allOf [F1, F1] (and oneOf, properties twice), F1 = … F(levels):
    2^levels schemas once every reference is expanded."""
    schemas = {}
    for i in range(levels):
        r = {"$ref": f"#/components/schemas/F{i + 1}"}
        schemas[f"F{i}"] = {
            "type": "object",
            "allOf": [r, r],
            "oneOf": [r, {"type": "object"}],
            "properties": {"x": r, "y": r, "z": {"type": "array", "items": r}},
        }
    schemas[f"F{levels}"] = {"type": "object", "properties": {"kind": {"type": "string"}}}
    return schemas


def chain(length):
    """C0 → C1 → … → C(length) through bare `$ref`s and single allOfs."""
    schemas = {}
    for i in range(length):
        r = {"$ref": f"#/components/schemas/C{i + 1}"}
        schemas[f"C{i}"] = r if i % 2 == 0 else {"allOf": [r]}
    schemas[f"C{length}"] = {
        "type": "object",
        "properties": {"kind": {"type": "string"}, "next": {"$ref": "#/components/schemas/C0"}},
    }
    return schemas


def deep(length):
    """D0.next → D1.next → … → D(length): a chain through `properties`, as
    long as the description is large, each link also an array of the next."""
    schemas = {}
    for i in range(length):
        r = {"$ref": f"#/components/schemas/D{i + 1}"}
        schemas[f"D{i}"] = {
            "type": "object",
            "properties": {"kind": {"type": "string"}, "next": r, "many": {"type": "array", "items": r}},
        }
    schemas[f"D{length}"] = {"type": "object", "properties": {"kind": {"type": "string"}, "next": {"$ref": "#/components/schemas/D0"}}}
    return schemas


def filters():
    """A query language as request bodies write it: a filter is an `and`, an
    `or` (each with child filters) or a comparison, told apart by `op`. Small,
    but a validator tries every branch at every level of a nested filter."""
    f = {"$ref": "#/components/schemas/Filter"}

    def group(op):
        return {"type": "object", "required": ["op", "children"], "properties": {
            "op": {"type": "string", "enum": [op]},
            "children": {"type": "array", "items": f}}}

    return {
        "Filter": {"oneOf": [
            {"$ref": "#/components/schemas/And"},
            {"$ref": "#/components/schemas/Or"},
            {"$ref": "#/components/schemas/Compare"},
        ]},
        "And": group("and"),
        "Or": group("or"),
        "Compare": {"type": "object", "required": ["op", "field"], "properties": {
            "op": {"type": "string", "enum": ["eq", "lt", "gt"]},
            "field": {"type": "string"}, "value": {}}},
        "Query": {"type": "object", "required": ["where"], "properties": {"where": f, "limit": {"type": "integer"}}},
    }


def filter_value(depth):
    value = {"op": "eq", "field": "name", "value": "x"}
    for d in range(depth):
        value = {"op": "and" if d % 2 else "or", "children": [value]}
    return {"where": value, "limit": 10}


def cycle():
    """A ↔ B with nothing else: a `$ref` loop that names no schema at all, plus
    a self-referencing allOf."""
    return {
        "A": {"$ref": "#/components/schemas/B"},
        "B": {"$ref": "#/components/schemas/A"},
        "Self": {"allOf": [{"$ref": "#/components/schemas/Self"}], "properties": {"kind": {"type": "string"}}},
        "Holder": {
            "type": "object",
            "properties": {
                "loop": {"$ref": "#/components/schemas/A"},
                "kind": {"type": "string"},
            },
        },
        "SelfHolder": {
            "type": "object",
            "properties": {
                "self": {"$ref": "#/components/schemas/Self"},
                "kind": {"type": "string"},
            },
        },
    }


def description(title, schemas, roots, ops):
    paths = {}
    for k in range(ops):
        # Operations take turns with the roots.
        body = {"$ref": f"#/components/schemas/{roots[k % len(roots)]}"}
        paths[f"/things{k}/{{id}}"] = {
            "post": {
                "operationId": f"send{k}",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "filter", "in": "query", "schema": body},
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "201": {"description": "made", "content": {"application/json": {"schema": body}}}
                },
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1"},
        "servers": [{"url": "http://127.0.0.1:9/api"}],
        "paths": paths,
        "components": {"schemas": schemas},
    }


def nested(keys, depth, leaf):
    value = leaf
    for d in range(depth):
        value = {"kind": "any", keys[d % len(keys)]: value}
    return value


def payload(name, keys, depth):
    if name == "filters":
        return filter_value(depth)
    return nested(keys, depth, {"kind": "any"})


def workflow(name, ops, keys):
    if name == "filters":
        pointer = "/where" + "/children/0" * 6
    else:
        pointer = "/" + "/".join(keys[d % len(keys)] for d in range(12))
    steps = []
    for k in range(ops):
        steps.append(
            {
                "stepId": f"send{k}",
                "operationId": f"send{k}",
                "parameters": [{"name": "id", "in": "path", "value": "$inputs.id"}],
                "requestBody": {
                    "contentType": "application/json",
                    # The first step's value is shallow and checked; the others
                    # nest 30 levels, past what `oneOf` branches let be checked.
                    "payload": payload(name, keys, 6 if k == 0 else 30),
                    "replacements": [
                        {"target": pointer + "/kind", "value": "$inputs.id"},
                        {"target": pointer + "/nothing", "value": "x"},
                    ],
                },
                "successCriteria": [{"condition": "$statusCode == 201"}],
                "outputs": {
                    "deep": "$response.body#" + pointer + "/kind",
                    "missing": "$response.body#" + pointer + "/nothing/here",
                },
            }
        )
    return {
        "arazzo": "1.0.1",
        "info": {"title": name, "version": "1"},
        "sourceDescriptions": [{"name": "api", "url": f"./{name}.openapi.json", "type": "openapi"}],
        "workflows": [
            {
                "workflowId": name,
                "inputs": {"type": "object", "properties": {"id": {"type": "string"}}},
                "steps": steps,
                "outputs": {"deep": f"$steps.send0.outputs.deep"},
            }
        ],
    }


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "recursive")
    big = "--big" in sys.argv
    n = 1500 if big else 40
    os.makedirs(out, exist_ok=True)
    cases = {
        "mutual": (mutual(n), ["S0"], ["a", "b", "either", "any"]),
        "fanout": (fanout(40), ["F0"], ["x", "y"]),
        "chain": (chain(10_000 if big else 2_000), ["C0"], ["next"]),
        "deep": (deep(5_000 if big else 1_500), ["D0"], ["next"]),
        "filters": (filters(), ["Query"], ["where", "children", "0"]),
        "cycle": (cycle(), ["Holder", "SelfHolder"], ["loop", "self"]),
    }
    for name, (schemas, roots, keys) in cases.items():
        ops = 8
        with open(os.path.join(out, f"{name}.openapi.json"), "w") as f:
            json.dump(description(name, schemas, roots, ops), f, indent=1, sort_keys=True)
            f.write("\n")
        with open(os.path.join(out, f"{name}.arazzo.json"), "w") as f:
            json.dump(workflow(name, ops, keys), f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks that the Postman collection only sends requests the OpenAPI documents describe.

For every request of postman/AuthStack.postman_collection.json (folders included):
  - its base URL variable names a document: {{identity_url}} → identity.yaml, {{notes_url}} → notes.yaml,
    {{keys_url}} → keys.yaml;
  - method + path template is an operation of that document; a `{{var}}` or `:var` path segment stands for a
    path parameter (`/notes/{{note_id}}` matches `/notes/{id}`), and `url.raw` agrees with `url.host` + `url.path`;
  - its query parameters and headers are documented parameters of the operation (Content-Type must be a media
    type of its request body; Authorization is covered by the next rule);
  - its authentication (its own, or inherited from its folder or the collection) is one the operation accepts:
    bearer only where the operation has an HTTP bearer scheme, none only where no credentials are required;
  - a request body is sent only where the operation has one, and always where it requires one.
The environments must define every base URL the collection uses (the compose one may lack only keys_url: the key
service is never behind the gateway).

Exits 1 listing every mismatch. Needs PyYAML (in .venv-api/, see scripts/check-openapi.sh).
"""
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "postman" / "AuthStack.postman_collection.json"
ENVIRONMENTS = {"local": ROOT / "postman" / "local.postman_environment.json",
                "compose": ROOT / "postman" / "compose.postman_environment.json"}
DOCUMENTS = {"identity_url": "identity.yaml", "notes_url": "notes.yaml", "keys_url": "keys.yaml"}
OPTIONAL_IN = {"compose": {"keys_url"}}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
VARIABLE = re.compile(r"^\{\{([A-Za-z0-9_.-]+)\}\}$")


def resolve(document, node):
    """Follows local `$ref`s (`#/components/...`)."""
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations(document):
    """(segments, method, operation, path-level parameters) for every operation of an OpenAPI document."""
    for path, item in document.get("paths", {}).items():
        item = resolve(document, item)
        segments = [None if re.fullmatch(r"\{[^}]+\}", s) else s for s in path.strip("/").split("/")]
        for method, operation in item.items():
            if method in METHODS:
                yield path, segments, method.upper(), operation, item.get("parameters", [])


def template(url):
    """(base variable, path segments with None for parameters, query keys, problems) of a Postman URL."""
    problems = []
    if isinstance(url, str):
        url = {"raw": url}
    raw = url.get("raw", "")
    host = url.get("host")
    host = "".join(host) if isinstance(host, list) else (host or "")
    path = url.get("path")
    if host and path is not None:
        rebuilt = host + "/" + "/".join(path)
        if raw.split("?", 1)[0] != rebuilt:
            problems.append(f"url.raw {raw!r} disagrees with host + path {rebuilt!r}")
    else:
        host, _, rest = raw.split("?", 1)[0].partition("/")
        path = rest.split("/") if rest else []
    match = VARIABLE.match(host)
    if not match:
        problems.append(f"base URL {host!r} is not one of " + ", ".join("{{%s}}" % k for k in DOCUMENTS))
        return None, [], [], problems
    segments = []
    for segment in path:
        if VARIABLE.match(segment) or segment.startswith(":"):
            segments.append(None)
        elif "{{" in segment:
            problems.append(f"path segment {segment!r} mixes text and a variable")
            segments.append(segment)
        else:
            segments.append(segment)
    query = [q["key"] for q in url.get("query", []) if not q.get("disabled")]
    if not url.get("query") and "?" in raw:
        query = [pair.split("=", 1)[0] for pair in raw.split("?", 1)[1].split("&") if pair]
    return match.group(1), segments, query, problems


def security_kinds(document, operation):
    """The ways an operation may be authenticated: 'bearer', 'cookie', 'none'."""
    requirements = operation.get("security", document.get("security", []))
    schemes = document.get("components", {}).get("securitySchemes", {})
    kinds = set()
    if not requirements:
        kinds.add("none")
    for requirement in requirements:
        if not requirement:
            kinds.add("none")
        for name in requirement:
            scheme = schemes[name]
            if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer":
                kinds.add("bearer")
            elif scheme.get("type") == "apiKey" and scheme.get("in") == "cookie":
                kinds.add("cookie")
    return kinds


def check_request(name, request, auth, documents, used_bases):
    problems = []
    base, segments, query, url_problems = template(request["url"])
    problems += url_problems
    if base is None:
        return problems
    if base not in DOCUMENTS:
        return problems + [f"base URL {{{{{base}}}}} names no OpenAPI document"]
    used_bases.add(base)
    document = documents[base]
    method = request["method"].upper()
    shown = "/" + "/".join("{…}" if s is None else s for s in segments)
    found = None
    for path, candidate, candidate_method, operation, path_parameters in operations(document):
        if candidate_method == method and len(candidate) == len(segments) and all(
            a is None and b is None or a == b for a, b in zip(candidate, segments)
        ):
            found = (path, operation, path_parameters)
    if not found:
        return problems + [f"{method} {shown} is no operation of {DOCUMENTS[base]}"]
    path, operation, path_parameters = found
    where = f"{method} {path} ({DOCUMENTS[base]})"
    parameters = [resolve(document, p) for p in list(path_parameters) + operation.get("parameters", [])]
    documented = {(p["in"], p["name"].lower()) for p in parameters}
    for key in query:
        if ("query", key.lower()) not in documented:
            problems.append(f"{where}: query parameter {key!r} is not documented")
    body = resolve(document, operation.get("requestBody", {}))
    media_types = set(body.get("content", {}))
    for header in request.get("header", []):
        if header.get("disabled"):
            continue
        key = header["key"].lower()
        if key == "content-type":
            if header["value"].split(";")[0].strip() not in media_types:
                problems.append(f"{where}: Content-Type {header['value']!r} is not a media type of its request body")
        elif key == "authorization":
            problems.append(f"{where}: set credentials with Postman auth, not a raw Authorization header")
        elif ("header", key) not in documented:
            problems.append(f"{where}: header {header['key']!r} is not documented")
    sent = request.get("body") or {}
    sends_body = bool(sent.get("raw")) if sent.get("mode", "raw") == "raw" else bool(sent)
    if sends_body and not body:
        problems.append(f"{where}: sends a body, but the operation takes none")
    if not sends_body and body.get("required"):
        problems.append(f"{where}: the operation requires a body, the request sends none")
    auth_type = (auth or {}).get("type", "noauth")
    kind = "none" if auth_type == "noauth" else auth_type
    accepted = security_kinds(document, operation)
    if kind == "none" and "none" not in accepted and "cookie" not in accepted:
        problems.append(f"{where}: sent without credentials, but the operation requires {sorted(accepted)}")
    elif kind != "none" and kind not in accepted:
        problems.append(f"{where}: sent with {kind} auth, but the operation accepts {sorted(accepted)}")
    return [f"{name}: {p}" for p in problems] if problems else []


def walk(items, trail, inherited_auth, documents, used_bases, counted):
    problems = []
    for item in items:
        label = " / ".join(trail + [item["name"]])
        auth = item.get("auth", inherited_auth) if "request" not in item else item["request"].get("auth", inherited_auth)
        if "item" in item:
            problems += walk(item["item"], trail + [item["name"]], auth, documents, used_bases, counted)
        else:
            counted.append(label)
            problems += [p if p.startswith(label) else f"{label}: {p}"
                         for p in check_request(label, item["request"], auth, documents, used_bases)]
    return problems


def main():
    documents = {base: yaml.safe_load((ROOT / "docs" / "openapi" / name).read_text()) for base, name in DOCUMENTS.items()}
    collection = json.loads(COLLECTION.read_text())
    used_bases, counted = set(), []
    problems = walk(collection["item"], [], collection.get("auth"), documents, used_bases, counted)
    for name, path in ENVIRONMENTS.items():
        defined = {v["key"] for v in json.loads(path.read_text()).get("values", []) if v.get("enabled", True)}
        for base in sorted(used_bases - defined - OPTIONAL_IN.get(name, set())):
            problems.append(f"environment {path.name}: {base} is used by the collection but not defined")
    if problems:
        print(f"check-postman: {len(problems)} mismatch(es) between the collection and the OpenAPI documents:", file=sys.stderr)
        for problem in problems:
            print("  - " + problem, file=sys.stderr)
        return 1
    print(f"check-postman: all {len(counted)} requests are documented operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())

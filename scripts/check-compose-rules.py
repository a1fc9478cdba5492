#!/usr/bin/env python3
"""The rules of the compose deployment (docs/design.md §8), checked on Compose's own reading of the files
(`docker compose -f compose.yaml -f compose.tls.yaml --profile tools config --format json`):

- only the gateway publishes ports, and it shares no network with the key service;
- each container mounts only its own secrets volume, read-only; only the secrets service writes them (all five);
- every container is read-only, without capabilities, with no-new-privileges, not root, and (but the authctl tool,
  which runs by hand) has memory and pids limits;
- the refresh cookie is Secure by default (run it with IDENTITY_COOKIE_SECURE unset).

    scripts/check-compose-rules.py CONFIG.json       (scripts/check-deploy.sh runs it)
"""

import json
import sys

READERS = {"keys": "secrets-keys", "authctl": "secrets-keys", "identity": "secrets-identity", "notes": "secrets-notes",
           "postgres": "secrets-postgres", "gateway": "secrets-gateway"}


def problems(services):
    found = []
    published = sorted(name for name, service in services.items() if service.get("ports"))
    if published != ["gateway"]:
        found.append(f"published ports on {published}, expected only on the gateway")
    shared = set(services["gateway"].get("networks", {})) & set(services["keys"].get("networks", {}))
    if shared:
        found.append(f"the gateway shares {sorted(shared)} with the key service")
    for name, service in services.items():
        mounted = [volume for volume in service.get("volumes", [])
                   if volume.get("type") == "volume" and volume.get("source", "").startswith("secrets-")]
        if name == "secrets":
            if len(mounted) != 5 or any(volume.get("read_only") for volume in mounted):
                found.append("the secrets service must mount the five secrets volumes, writable")
        elif any(volume["source"] != READERS.get(name) or not volume.get("read_only") for volume in mounted):
            found.append(f"{name} mounts {[volume['source'] for volume in mounted]}, expected only "
                         f"{READERS.get(name)}, read-only")
        elif name in READERS and name != "gateway" and not mounted:
            found.append(f"{name} mounts no secrets volume")
        if not service.get("read_only") or "ALL" not in service.get("cap_drop", []) \
                or "no-new-privileges:true" not in service.get("security_opt", []):
            found.append(f"{name} is not read-only, capability-free and no-new-privileges")
        if str(service.get("user", "")).split(":")[0] in ("0", "root"):
            found.append(f"{name} runs as root")
        if name != "authctl" and not (service.get("mem_limit") and service.get("pids_limit")):
            found.append(f"{name} has no memory or pids limit")
    if services["identity"]["environment"].get("IDENTITY_COOKIE_SECURE") != "true":
        found.append("IDENTITY_COOKIE_SECURE must default to true")
    return found


def main(path):
    services = json.load(open(path))["services"]
    found = problems(services)
    for problem in found:
        print(f"check-compose-rules: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

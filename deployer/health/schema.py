"""JSON Schema (draft 2020-12) of the "deployer.health/v1" document; docs/health.md explains it.

Compatible changes (new optional fields) keep v1; anything that removes or changes the
meaning of a field makes v2.
"""

from __future__ import annotations

from typing import Any

_NUM = {"type": ["number", "null"]}
_STR = {"type": ["string", "null"]}

PROBE: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["kind", "target", "ok", "detail"],
    "properties": {
        "kind": {"enum": ["http", "tcp"]},
        "target": {"type": "string"},
        "ok": {"type": "boolean"},
        "detail": {"type": "string"},
        "status": {"type": ["integer", "null"]},
        "latency_ms": _NUM,
    },
}

CONTAINER: dict[str, Any] = {
    "type": "object",
    "required": [
        "name",
        "state",
        "managed",
        "declared",
        "health",
        "restarts",
        "image",
        "digest",
        "ports",
        "started_at",
        "wanted_image",
        "probe",
    ],
    "properties": {
        "name": {"type": "string"},
        "id": {"type": "string"},
        "managed": {"type": "boolean"},
        "declared": {"type": "boolean"},
        "state": {"type": "string"},
        "health": _STR,
        "restarts": {"type": "integer"},
        "recent_restarts": {"type": ["integer", "null"]},
        "started_at": {"type": "string"},
        "image": {"type": "string"},
        "image_id": {"type": "string"},
        "digest": _STR,
        "ports": {"type": "array", "items": {"type": "string"}},
        "wanted_image": _STR,
        "probe": PROBE,
    },
}

VERDICT = {"enum": ["healthy", "degraded", "unhealthy", "unreachable"]}

HOST: dict[str, Any] = {
    "type": "object",
    "required": ["name", "address", "verdict", "reasons", "findings", "reachable", "containers"],
    "properties": {
        "name": {"type": "string"},
        "address": {"type": "string"},
        "verdict": VERDICT,
        "reasons": {"type": "array", "items": {"type": "string"}},
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["level", "text", "subject"],
                "properties": {
                    "level": {"enum": ["degraded", "unhealthy", "unreachable"]},
                    "text": {"type": "string"},
                    "subject": {"type": "string"},
                },
            },
        },
        "reachable": {"type": "boolean"},
        "ssh_latency_ms": _NUM,
        "engine_version": _STR,
        "engine": {"type": "string"},
        "disks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "mount", "used_pct"],
                "properties": {
                    "path": {"type": "string"},
                    "mount": {"type": "string"},
                    "used_pct": {"type": "integer"},
                    "size_kb": {"type": "integer"},
                    "avail_kb": {"type": "integer"},
                },
            },
        },
        "mem_available_pct": _NUM,
        "mem_total_kb": {"type": ["integer", "null"]},
        "load": {"type": ["array", "null"], "items": {"type": "number"}},
        "cpus": {"type": ["integer", "null"]},
        "uptime_s": _NUM,
        "clock_offset_s": _NUM,
        "took_s": {"type": "number"},
        "thresholds": {"type": "object", "additionalProperties": {"type": "number"}},
        "containers": {"type": "array", "items": CONTAINER},
        "proxy": {
            "type": ["object", "null"],
            "required": ["running", "image", "routes"],
            "properties": {
                "running": {"type": "boolean"},
                "image": {"type": "string"},
                "routes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "path", "port", "container_id", "state"],
                        "properties": {
                            "name": {"type": "string"},
                            "host": _STR,
                            "path": {"type": "string"},
                            "port": {"type": "integer"},
                            "container_id": {"type": "string"},
                            "container": _STR,
                            "state": {"type": "string"},
                            "health": _STR,
                        },
                    },
                },
            },
        },
    },
}

JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "deployer.health/v1",
    "type": "object",
    "required": ["schema", "generated_at", "summary", "hosts"],
    "properties": {
        "schema": {"const": "deployer.health/v1"},
        "generated_at": {"type": "string"},
        "playbook": _STR,
        "took_s": {"type": "number"},
        "summary": {
            "type": "object",
            "required": ["healthy", "degraded", "unhealthy", "unreachable", "total", "exit_code"],
            "additionalProperties": {"type": "integer"},
        },
        "hosts": {"type": "array", "items": HOST},
    },
}

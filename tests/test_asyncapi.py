"""asyncapi.yaml, checked against the code, and the deployment that creates its topics.

The event contract must not drift from what the hub sends and accepts:

- every event type of hub/events/envelope.py has a message on `hub.events` and on the
  partner topics, and no message names a type the code does not know;
- on `hub.events` an event's `data` is exactly its record's columns (what `snapshot()`
  writes to the outbox), with matching JSON types, nulls and value lists;
- on a partner topic it is exactly what the projection can show (hub/events/projection.py:
  the resource's policy fields in camelCase, relations as `<relation>Id`), all optional;
- the inbound messages are exactly what the inbound consumer validates
  (hub/connectors/inbound.py), and the headers are those the relay and the dead-letter
  step write.

Adding an event type, a model column, a policy field or an inbound field without
documenting it fails here. The deployment is checked without Docker: the `kafka-topics`
job of docker-compose.yml (run with a stand-in for kafka-topics.sh) creates exactly the
documented topics for the partners of policies/partners.yaml, and a token shaped by the
Keycloak realm's mappers is accepted by the hub's token verifier.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import yaml
from aiokafka.structs import ConsumerRecord
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, String
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.types import TypeDecorator

from hub.auth.verify import TokenVerifier
from hub.config import Settings
from hub.connectors import inbound, kafka
from hub.connectors.partners import Directory, Partner, load_partners
from hub.connectors.relay import headers as relay_headers
from hub.events.envelope import EVENT_TYPES, NEVER_IN_EVENTS, SOURCE, make_event
from hub.events.projection import RELATION_KEYS
from hub.models.base import utcnow
from hub.policy.resources import COLUMN_VOCABULARIES, RESOURCES
from hub.policy.vocabulary import PURPOSES

ROOT = Path(__file__).resolve().parent.parent
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "asyncapi.yaml").read_text())
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
REALM: dict[str, Any] = json.loads((ROOT / "docker/keycloak/realm-hub.json").read_text())
PARTNERS: list[Partner] = load_partners(ROOT / "policies")

HUB_EVENTS = "hub.events"
DEAD_LETTER = "hub.deadletter"
PARTNER_EVENTS = "partner.{org}.events"
PARTNER_INBOX = "partner.{org}.inbox"

# CloudEvents 1.0 REQUIRED attributes, and what the hub's make_event always writes.
CLOUDEVENTS_REQUIRED = {"specversion", "id", "source", "type"}
HUB_ENVELOPE_REQUIRED = CLOUDEVENTS_REQUIRED | {"subject", "time", "datacontenttype", "data"}
EXTENSIONS = {"purpose", "policyversion"}

# A policy activation names a version, not a record: its data is not a snapshot.
POLICY_ACTIVATED_DATA = {"resource", "version", "change_id"}

HUB_REPLICAS = ("hub-1", "hub-2")


# ---------------------------------------------------------------------------- helpers


def resolve(node: Any, root: dict[str, Any] = SPEC) -> Any:
    """Follow local `$ref`s (JSON pointers into `root`)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references: {ref}"
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def merged(schema: Any) -> tuple[dict[str, Any], set[str]]:
    """The properties and required names of a schema, through `allOf`."""
    schema = resolve(schema)
    props: dict[str, Any] = {}
    required: set[str] = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        p, r = merged(part)
        props.update(p)
        required |= r
    props.update(schema.get("properties", {}))
    return props, required


def message_type(message: dict[str, Any]) -> str | None:
    props, _ = merged(message["payload"])
    return resolve(props["type"]).get("const") if "type" in props else None


def data_schema(message: dict[str, Any]) -> dict[str, Any]:
    props, _ = merged(message["payload"])
    assert "data" in props, f"{message.get('name')}: no data schema"
    return resolve(props["data"])  # type: ignore[no-any-return]


def channel(address: str) -> dict[str, Any]:
    found = [c for c in SPEC["channels"].values() if c["address"] == address]
    assert len(found) == 1, f"expected one channel for topic {address}, found {len(found)}"
    return found[0]


def channel_messages(address: str) -> dict[str, dict[str, Any]]:
    """The messages of a topic, by the event type they carry."""
    out: dict[str, dict[str, Any]] = {}
    for ref in channel(address)["messages"].values():
        message = resolve(ref)
        type_ = message_type(message)
        assert type_ is not None, f"{message.get('name')} on {address} names no type"
        assert type_ not in out, f"{type_} twice on {address}"
        out[type_] = message
    return out


def message_data(address: str, type_: str) -> dict[str, Any]:
    messages = channel_messages(address)
    assert type_ in set(messages), f"no message documents {type_} on {address}"
    return data_schema(messages[type_])


def json_types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    if t is None:
        return set()
    return {t} if isinstance(t, str) else set(t)


def column_json_type(column: Any) -> tuple[str | None, str | None]:
    """The JSON type and format a column's value has in an event (None: array or object)."""
    sql_type = column.type
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl
    if isinstance(sql_type, Boolean):
        return "boolean", None
    if isinstance(sql_type, Integer):
        return "integer", None
    if isinstance(sql_type, DateTime):
        return "string", "date-time"
    if isinstance(sql_type, Date):
        return "string", "date"
    if isinstance(sql_type, JSON):
        return None, None
    if isinstance(sql_type, String):
        return "string", None
    raise AssertionError(f"teach this test the JSON type of {column.key} ({sql_type!r})")


def check_property(where: str, prop: dict[str, Any], column: Any) -> None:
    """A data property agrees with its column: type, format, null, list of values."""
    prop = resolve(prop)
    json_type, fmt = column_json_type(column)
    types = json_types(prop)
    if json_type is None:
        assert types and types - {"null"} <= {"array", "object"}, f"{where}: {types}"
    else:
        assert types - {"null"} == {json_type}, f"{where}: type {types}, column is {json_type}"
    assert ("null" in types) == column.nullable, f"{where}: null allowed must be {column.nullable}"
    if fmt is not None:
        assert prop.get("format") == fmt, f"{where}: format must be {fmt}"
    vocabulary = COLUMN_VOCABULARIES.get((column.table.name, column.key))
    if vocabulary is not None:
        assert "enum" in prop, f"{where}: list its values (enum)"
        values = set(prop["enum"])
        assert values - {None} == {v.value for v in vocabulary}, f"{where}: enum"
        assert (None in values) == column.nullable, f"{where}: null in enum"


def snapshot_columns(resource: str) -> dict[str, Any]:
    """What `snapshot()` writes: every column but those that never enter an event."""
    model = RESOURCES[resource].model
    return {c.key: c for c in sa_inspect(model).columns if c.key not in NEVER_IN_EVENTS}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def projected_fields(resource: str) -> dict[str, Any]:
    """The data keys the projection can show a receiver, with the column of each: the
    resource's policy fields that are columns, in camelCase; a relation as `<name>Id`
    (its key column, unless that is a policy field itself)."""
    res = RESOURCES[resource]
    columns = snapshot_columns(resource)
    out: dict[str, Any] = {}
    for f in res.fields:
        if f in columns:
            out[camel(f)] = columns[f]
            continue
        key = RELATION_KEYS.get((resource, f), f"{f}_id")
        name = camel(f) + "Id"
        if key in columns and key not in res.fields and name not in out:
            out[name] = columns[key]
    return out


def normalised(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema reduced to what a payload must satisfy, comparable across writers
    (pydantic's `anyOf [..., null]` and this document's `type: [..., "null"]` alike)."""
    schema = resolve(schema, root)
    if "anyOf" in schema:
        parts = [normalised(s, root) for s in schema["anyOf"]]
        out: dict[str, Any] = {}
        for part in parts:
            types = out.get("types", frozenset()) | part.pop("types", frozenset())
            out.update(part)
            out["types"] = types
    else:
        out = {"types": frozenset(json_types(schema))}
    for key in ("format", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"):
        if key in schema:
            out[key] = schema[key]
    if "default" in schema:
        out["default"] = schema["default"]
    if "enum" in schema:
        out["enum"] = frozenset(schema["enum"]) - {None}
    if "const" in schema:
        out["const"] = schema["const"]
    if "items" in schema:
        out["items"] = normalised(schema["items"], root)
    if "properties" in schema:
        out["properties"] = {k: normalised(v, root) for k, v in schema["properties"].items()}
        out["required"] = frozenset(schema.get("required", []))
        out["additionalProperties"] = schema.get("additionalProperties", True)
    if out.get("enum") and not out["types"] - {"null"}:
        out["types"] |= {"string"}  # pydantic leaves `type` out of a bare enum reference
    return out


# ---------------------------------------------------------------------------- document


def test_asyncapi_3() -> None:
    assert str(SPEC["asyncapi"]).startswith("3.")


def test_a_channel_for_every_topic() -> None:
    addresses = {c["address"] for c in SPEC["channels"].values()}
    assert addresses == {HUB_EVENTS, DEAD_LETTER, PARTNER_EVENTS, PARTNER_INBOX}
    assert (kafka.HUB_EVENTS, kafka.DEADLETTER) == (HUB_EVENTS, DEAD_LETTER)
    for address in (PARTNER_EVENTS, PARTNER_INBOX):
        assert set(channel(address)["parameters"]) == {"org"}
    for p in PARTNERS:
        assert p.topic == PARTNER_EVENTS.replace("{org}", p.key)
        assert p.inbox in (None, PARTNER_INBOX.replace("{org}", p.key))


def test_every_event_type_on_the_internal_and_partner_topics() -> None:
    assert set(channel_messages(HUB_EVENTS)) == set(EVENT_TYPES)
    assert set(channel_messages(PARTNER_EVENTS)) == set(EVENT_TYPES)


def test_the_inbox_takes_exactly_the_inbound_types() -> None:
    assert set(channel_messages(PARTNER_INBOX)) == set(inbound.INBOUND)


def test_no_message_names_a_type_the_code_does_not_know() -> None:
    known = set(EVENT_TYPES) | set(inbound.INBOUND)
    for key, message in SPEC["components"]["messages"].items():
        if "type" in merged(message["payload"])[0]:
            assert message_type(message) in known, key


def test_every_message_is_on_a_topic() -> None:
    used = {
        resolve(ref)["name"] for c in SPEC["channels"].values() for ref in c["messages"].values()
    }
    assert used == {m["name"] for m in SPEC["components"]["messages"].values()}


def test_hub_envelope_is_cloudevents_with_the_extensions() -> None:
    event = make_event(
        "be.hub.alert.issued.v1",
        subject="x",
        data={},
        time=utcnow(),
        purpose="safety_alerting",
        policy_version="3",
    )
    for address in (HUB_EVENTS, PARTNER_EVENTS):
        for message in channel_messages(address).values():
            props, required = merged(message["payload"])
            assert required >= HUB_ENVELOPE_REQUIRED
            assert set(props) >= EXTENSIONS
            assert set(event) <= set(props), "make_event writes an attribute not documented"
            assert resolve(props["specversion"])["const"] == "1.0"
            assert resolve(props["source"])["const"] == SOURCE
            assert resolve(props["datacontenttype"])["const"] == event["datacontenttype"]
            assert set(resolve(props["purpose"])["enum"]) == PURPOSES


def test_inbound_envelope_is_what_the_consumer_validates() -> None:
    code = inbound.Envelope.model_json_schema()
    for message in channel_messages(PARTNER_INBOX).values():
        _, required = merged(message["payload"])
        assert required == set(code["required"])
        assert required >= CLOUDEVENTS_REQUIRED
        # The envelope itself: the first part of each inbound payload.
        envelope = resolve(message["payload"]["allOf"][0])
        props = envelope["properties"]
        assert set(props) >= set(code["properties"]) | EXTENSIONS
        for name in ("id", "source", "type", "subject", "time"):
            ours, theirs = normalised(props[name], SPEC), normalised(code["properties"][name], code)
            for key in ("types", "format", "minLength", "maxLength"):
                assert ours.get(key) == theirs.get(key), f"envelope {name}: {key}"


@pytest.mark.parametrize("type_", sorted(EVENT_TYPES))
def test_internal_event_data_is_the_record_snapshot(type_: str) -> None:
    resource = EVENT_TYPES[type_]
    schema = message_data(HUB_EVENTS, type_)
    props = schema.get("properties", {})
    if resource == "PolicyChange":
        assert set(props) == POLICY_ACTIVATED_DATA
        return
    # One data schema serves internal consumers and documents every field; nothing is
    # required, since what a subscriber or partner gets is projected.
    assert not schema.get("required"), f"{type_}: no data field may be required"
    columns = snapshot_columns(resource)
    assert set(props) == set(columns), (
        f"{type_}: undocumented {sorted(set(columns) - set(props))}, "
        f"unknown {sorted(set(props) - set(columns))}"
    )
    for name, column in columns.items():
        check_property(f"{type_} data.{name}", props[name], column)


@pytest.mark.parametrize("type_", sorted(EVENT_TYPES))
def test_partner_event_data_is_the_projection(type_: str) -> None:
    resource = EVENT_TYPES[type_]
    schema = message_data(PARTNER_EVENTS, type_)
    props = schema.get("properties", {})
    if resource == "PolicyChange":
        assert set(props) == POLICY_ACTIVATED_DATA  # passed on unprojected
        return
    assert not schema.get("required"), f"{type_}: a partner's policy may withhold any field"
    fields = projected_fields(resource)
    assert set(props) == set(fields), (
        f"{type_}: undocumented {sorted(set(fields) - set(props))}, "
        f"unknown {sorted(set(props) - set(fields))}"
    )
    for name, column in fields.items():
        check_property(f"{type_} partner data.{name}", props[name], column)


@pytest.mark.parametrize("type_", sorted(inbound.INBOUND))
def test_inbound_data_is_what_the_consumer_validates(type_: str) -> None:
    code = inbound.INBOUND[type_].schema.model_json_schema(by_alias=True)
    ours = normalised(message_data(PARTNER_INBOX, type_), SPEC)
    theirs = normalised(code, code)
    assert set(ours["properties"]) == set(theirs["properties"]), type_
    assert ours == theirs, f"{type_}: the documented data differs from what the hub accepts"


def test_event_headers_are_those_the_relay_writes() -> None:
    event = make_event("be.hub.alert.issued.v1", subject="x", data={}, time=utcnow())
    traits = SPEC["components"]["messageTraits"]
    for trait, written in (
        ("HubEvent", relay_headers(event)),
        ("ProjectedEvent", relay_headers(event, purpose="care")),
    ):
        props, required = merged(traits[trait]["headers"])
        assert {name for name, _ in written} == set(props) == required, trait


def test_dead_letters_carry_the_documented_headers() -> None:
    [ref] = channel(DEAD_LETTER)["messages"].values()
    documented = resolve(resolve(ref)["headers"])
    reasons = set(documented["properties"]["hub.dlq.reason"]["enum"])
    partner = next(p for p in PARTNERS if p.inbox)
    sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []

    class Producer:
        async def send_and_wait(
            self, topic: str, value: bytes, *, key: bytes | None, headers: Any
        ) -> None:
            sent.append((topic, value, key, headers))

    async def dlq() -> Any:
        return Producer()

    directory = Directory(cast(Any, None), PARTNERS)
    consumer = inbound.InboundConsumer(Settings(), cast(Any, None), directory, partner, dlq)
    source = sorted(partner.sources)[0]
    kind = sorted(inbound.INBOUND)[0]
    bad = {
        "too_large": b"x" * (Settings().kafka_inbound_max_bytes + 1),
        "malformed": b"not json",
        "invalid_envelope": b'{"specversion": "0.3"}',
        "unknown_type": json.dumps(
            {"specversion": "1.0", "id": "1", "source": source, "type": "be.hub.x.y.v1"}
            | {"data": {}}
        ).encode(),
        "forbidden_source": json.dumps(
            {"specversion": "1.0", "id": "1", "source": "urn:someone:else", "type": kind}
            | {"data": {}}
        ).encode(),
        "invalid_data": json.dumps(
            {"specversion": "1.0", "id": "1", "source": source, "type": kind}
            | {"data": {"nope": 1}}
        ).encode(),
    }
    for offset, (reason, value) in enumerate(bad.items()):
        record = ConsumerRecord(
            topic=cast(str, partner.inbox),
            partition=2,
            offset=offset,
            timestamp=0,
            timestamp_type=0,
            key=b"k",
            value=value,
            checksum=None,
            serialized_key_size=1,
            serialized_value_size=len(value),
            headers=(),
        )
        assert asyncio.run(consumer.handle(record)) == reason
        topic, payload, key, headers = sent[-1]
        kept = b"" if reason == "too_large" else value  # a too large payload is left out
        assert (topic, payload, key) == (DEAD_LETTER, kept, b"k"), "copied unchanged"
        written = dict(headers)
        assert written["hub.dlq.sha256"] == hashlib.sha256(value).hexdigest().encode()
        assert set(written) == set(documented["required"]) == set(documented["properties"])
        assert written["hub.dlq.reason"].decode() in reasons
        assert written["hub.dlq.offset"] == str(offset).encode()


# ---------------------------------------------------------------------------- deployment


def test_compose_runs_two_replicas_sharing_their_keys() -> None:
    services = COMPOSE["services"]
    envs = [services[name]["environment"] for name in HUB_REPLICAS]
    for env in envs:
        assert env["HUB_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["HUB_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["HUB_OIDC_ISSUER"] == f"http://keycloak:8080/realms/{REALM['realm']}"
        assert env["HUB_OIDC_AUDIENCE"] == "hub"
        assert env["HUB_CONNECTORS"] == "off", "the relay runs once, in hub-connectors"
    assert envs[0] == envs[1]
    assert services["hub-connectors"]["command"] == ["hub", "connectors", "run"]
    secret_dir = envs[0]["HUB_SECRET_DIR"]
    mounts = [
        {v for v in services[name]["volumes"] if v.endswith(":" + secret_dir)}
        for name in (*HUB_REPLICAS, "hub-connectors", "hub-init")
    ]
    assert len(mounts[0]) == 1 and all(m == mounts[0] for m in mounts), "one shared key volume"
    for name in (*HUB_REPLICAS, "hub-connectors"):
        condition = services[name]["depends_on"]["hub-init"]["condition"]
        assert condition == "service_completed_successfully"
    for name in HUB_REPLICAS:
        assert "healthcheck" in services[name]
    upstreams = set(services["proxy"]["environment"]["HUB_UPSTREAMS"].split())
    assert upstreams == {f"{name}:8000" for name in HUB_REPLICAS}
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_compose_holds_placeholders_not_credentials() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    defaults = re.findall(r"\$\{(\w*(?:PASSWORD|SECRET)\w*):-([^}]*)\}", text)
    assert defaults
    for name, value in defaults:
        assert value.startswith("change-me"), f"{name} defaults to a non-placeholder"
    for client in REALM["clients"]:
        if client["publicClient"]:
            assert "secret" not in client, client["clientId"]  # a public client has none
        else:
            assert client["secret"].startswith("CHANGE-ME"), client["clientId"]


def test_compose_creates_topics_for_the_partners_of_the_policy() -> None:
    env = COMPOSE["services"]["kafka-topics"]["environment"]
    assert env["HUB_PARTNERS"].split() == [p.key for p in PARTNERS]
    assert env["HUB_INBOX_PARTNERS"].split() == [p.key for p in PARTNERS if p.inbox]


def test_topics_job_creates_the_documented_topics(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    stub = tmp_path / "kafka-topics.sh"
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n')
    stub.chmod(0o755)
    env = {k: str(v) for k, v in COMPOSE["services"]["kafka-topics"]["environment"].items()}
    result = subprocess.run(
        ["/bin/sh", str(ROOT / "docker/kafka/create-topics.sh")],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env, "KAFKA_TOPICS_CMD": str(stub)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    created: dict[str, dict[str, str]] = {}
    for line in log.read_text().splitlines():
        if "--create" in line:
            args = line.split()
            configs = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--config")
            topic = args[args.index("--topic") + 1]
            created[topic] = {"partitions": args[args.index("--partitions") + 1], **configs}
    expected = {HUB_EVENTS: channel(HUB_EVENTS), DEAD_LETTER: channel(DEAD_LETTER)}
    for p in PARTNERS:
        expected[p.topic] = channel(PARTNER_EVENTS)
        if p.inbox:
            expected[p.inbox] = channel(PARTNER_INBOX)
    assert set(created) == set(expected)
    for topic, c in expected.items():
        binding = c["bindings"]["kafka"]
        config = binding["topicConfiguration"]
        assert created[topic]["partitions"] == str(binding["partitions"]), topic
        assert created[topic]["retention.ms"] == str(config["retention.ms"]), topic
        assert created[topic]["cleanup.policy"] == ",".join(config["cleanup.policy"]), topic
    # Topics the connectors create themselves, if the job has not run, get as many.
    assert channel(HUB_EVENTS)["bindings"]["kafka"]["partitions"] == kafka.PARTITIONS


CONSOLE_CLIENT = "hub-console"
# A person as a Keycloak user of the trial: the attributes the console client's mappers read.
PERSON_ATTRIBUTES: dict[str, list[str]] = {
    "org": ["00000000-0000-4000-8000-000000000002"],
    "org_kind": ["city"],
    "city": ["Antwerpen"],
    "roles": ["privacy_officer"],
    "purposes": ["policy_administration"],
}


def test_every_partner_has_a_keycloak_client() -> None:
    clients = {c["clientId"]: c for c in REALM["clients"] if c["clientId"] != CONSOLE_CLIENT}
    assert set(clients) == {p.key for p in PARTNERS}
    for p in PARTNERS:
        client = clients[p.key]
        assert client["serviceAccountsEnabled"] is True, "client credentials grant"
        assert client["publicClient"] is False
        assert not client["standardFlowEnabled"] and not client["directAccessGrantsEnabled"]
        claims = _access_token_claims(client, "iss")
        assert claims["roles"] == [p.role], p.key
        assert claims["purposes"] == list(p.purposes), p.key


def test_the_consoles_have_a_public_pkce_client_calling_back_to_the_hub() -> None:
    client = next(c for c in REALM["clients"] if c["clientId"] == CONSOLE_CLIENT)
    env = COMPOSE["services"]["hub-1"]["environment"]
    assert env.get("HUB_CONSOLE_CLIENT_ID", "hub-console") == CONSOLE_CLIENT
    assert client["publicClient"] is True and client["standardFlowEnabled"] is True
    assert not client["implicitFlowEnabled"] and not client["directAccessGrantsEnabled"]
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["redirectUris"] == [f"{env['HUB_PUBLIC_URL']}/login/callback"]


def _access_token_claims(
    client: dict[str, Any], issuer: str, user: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The access token claims Keycloak's mappers give a client's service account, or
    for a public client a user with these attributes."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "typ": "Bearer",
        "azp": client["clientId"],
    }
    for mapper in client["protocolMappers"]:
        config = mapper["config"]
        if config.get("access.token.claim") != "true":
            continue
        kind = mapper["protocolMapper"]
        if kind == "oidc-sub-mapper":
            claims["sub"] = str(uuid.uuid4())  # the service account user's id
        elif kind == "oidc-audience-mapper":
            claims["aud"] = config["included.custom.audience"]
        elif kind == "oidc-hardcoded-claim-mapper":
            value = config["claim.value"]
            label = config["jsonType.label"]
            assert label in ("String", "JSON"), f"{mapper['name']}: jsonType {label}"
            claims[config["claim.name"]] = json.loads(value) if label == "JSON" else value
        elif kind == "oidc-usermodel-attribute-mapper":
            values = (user or {}).get(config["user.attribute"])
            if values:
                multivalued = config.get("multivalued") == "true"
                claims[config["claim.name"]] = values if multivalued else values[0]
        else:
            raise AssertionError(f"teach this test Keycloak's {kind}")
    return claims


@pytest.mark.parametrize("client", REALM["clients"], ids=lambda c: c["clientId"])
def test_keycloak_tokens_are_accepted_by_the_hub(client: dict[str, Any]) -> None:
    env = COMPOSE["services"]["hub-1"]["environment"]
    issuer = env["HUB_OIDC_ISSUER"]
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    key.ensure_kid()
    claims = _access_token_claims(client, issuer, PERSON_ATTRIBUTES)
    token = jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)

    def provider(request: httpx.Request) -> httpx.Response:
        if str(request.url) == f"{issuer}/.well-known/openid-configuration":
            jwks_uri = f"{issuer}/protocol/openid-connect/certs"
            return httpx.Response(200, json={"issuer": issuer, "jwks_uri": jwks_uri})
        if str(request.url) == f"{issuer}/protocol/openid-connect/certs":
            return httpx.Response(200, json={"keys": [key.as_dict(private=False)]})
        return httpx.Response(404)

    async def verify() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as http:
            settings = Settings(oidc_issuer=issuer, oidc_audience=env["HUB_OIDC_AUDIENCE"])
            return await TokenVerifier(settings, http=http).verify(token)

    principal = asyncio.run(verify())
    assert principal.org_id == claims["org"]
    assert principal.org_kind == claims["org_kind"]
    assert principal.city == claims["city"]
    assert principal.roles == frozenset(claims["roles"])
    assert principal.purposes == frozenset(claims["purposes"])
    assert principal.client_id == client["clientId"]

"""A partner system on the hub's Kafka topics, as a police records system would be written:
it sends inspections to its inbox and reads the events the hub projects for it. Uses
aiokafka. The topics and every message are described in asyncapi.yaml and docs/events.md.

    # send one inspection (a CloudEvents 1.0 event) to partner.antwerp_police.inbox
    python examples/kafka_partner.py send-inspection --partner antwerp_police \\
        --branch window --outcome warning --persons-checked 2 --premises-id=ID

    # read partner.antwerp_police.events: one JSON event per line
    python examples/kafka_partner.py consume --partner antwerp_police --max-events 10

Ids are the partner's own: an id in an event or a GraphQL answer is sealed for the
partner's organisation, and an id it sends back (premisesId) must be one it received.
Delivery is at least once, so the consumer skips an event id it has already handled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

INSPECTION = "be.hub.inspection.recorded.v1"


def inspection_event(args: argparse.Namespace) -> dict[str, Any]:
    """An inspection from the partner's records system, in the CloudEvents envelope."""
    data: dict[str, Any] = {
        "branch": args.branch,
        "occurredAt": datetime.now(UTC).isoformat(),
        "outcome": args.outcome,
        "personsChecked": args.persons_checked,
        "proactive": True,
    }
    if args.premises_id:
        data["premisesId"] = args.premises_id
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),  # the hub applies an id once: a resend changes nothing
        "source": f"urn:be:{args.partner}:rms",
        "type": INSPECTION,
        "subject": args.reference,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


async def send_inspection(args: argparse.Namespace) -> int:
    # The idempotent producer where the broker has it (Apache Kafka); the test broker lacks it.
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap, enable_idempotence=not args.no_idempotence, acks="all"
    )
    await producer.start()
    try:
        event = inspection_event(args)
        await producer.send_and_wait(
            f"partner.{args.partner}.inbox",
            json.dumps(event).encode(),
            key=args.reference.encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )
    finally:
        await producer.stop()
    print(json.dumps({"sent": event["id"], "type": event["type"]}), flush=True)
    return 0


async def consume(args: argparse.Namespace) -> int:
    consumer = AIOKafkaConsumer(
        f"partner.{args.partner}.events",
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: set[str] = set()
    try:
        async with asyncio.timeout(args.timeout):
            async for message in consumer:
                event = json.loads(message.value or b"{}")
                # At least once: a redelivered event has an id already handled.
                if event.get("id") not in seen and (
                    not args.types or event.get("type") in args.types
                ):
                    seen.add(event["id"])
                    print(json.dumps(event), flush=True)
                await consumer.commit()  # after handling, so a crash re-reads, never skips
                if len(seen) >= args.max_events:
                    break
    except TimeoutError:
        print(f"no more events within {args.timeout} s", file=sys.stderr)
    finally:
        await consumer.stop()
    print(f"{len(seen)} events", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    send = sub.add_parser("send-inspection", help="send one inspection to the partner's inbox")
    read = sub.add_parser("consume", help="print the events the hub sends the partner")
    for q in (send, read):
        q.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka brokers")
        q.add_argument("--partner", required=True, help="the partner key of partners.yaml")
    send.add_argument("--branch", default="window", help="window, street, escort, ...")
    send.add_argument("--outcome", default="none", help="none, warning, pv or rir")
    send.add_argument("--persons-checked", type=int, default=0, help="persons checked")
    send.add_argument(
        "--premises-id",
        default=None,
        help="the premises, as the partner got it (write --premises-id=ID: an id may start with -)",
    )
    send.add_argument("--reference", default="rms-1", help="the partner's own reference")
    send.add_argument(
        "--no-idempotence", action="store_true", help="for brokers without it (test broker)"
    )
    read.add_argument("--group", default="partner-rms", help="the consumer group")
    read.add_argument("--types", nargs="*", default=None, help="only these event types")
    read.add_argument("--max-events", type=int, default=10, help="stop after this many events")
    read.add_argument("--timeout", type=float, default=60.0, help="stop after this many seconds")
    return p


def main() -> int:
    args = parser().parse_args()
    run = send_inspection if args.command == "send-inspection" else consume
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

#!/bin/sh
# Creates the hub's Kafka topics; run once by the `kafka-topics` job of docker-compose.yml
# (automatic topic creation is off on the broker, so a typo in a topic name fails loudly
# instead of creating a topic nobody reads). Safe to run again: existing topics are kept.
#
#   KAFKA_BOOTSTRAP     the broker, e.g. kafka:9092
#   HUB_PARTNERS        the partners' keys in policies/partners.yaml (<org> in
#                       partner.<org>.events), space-separated
#   HUB_INBOX_PARTNERS  those of them with `inbox: true` (partner.<org>.inbox)
#   HUB_PARTITIONS      partitions of hub.events and the partner topics (default 3)
#   KAFKA_REPLICATION   replication factor (default 1: a single broker)
#
# The topics are documented in asyncapi.yaml.
set -eu

: "${KAFKA_BOOTSTRAP:?set KAFKA_BOOTSTRAP}"
: "${HUB_PARTNERS:?set HUB_PARTNERS}"
INBOX_PARTNERS=${HUB_INBOX_PARTNERS:-}
PARTITIONS=${HUB_PARTITIONS:-3}
REPLICATION=${KAFKA_REPLICATION:-1}
TOPICS_CMD=${KAFKA_TOPICS_CMD:-/opt/kafka/bin/kafka-topics.sh}

DAY_MS=86400000

create() {
  topic=$1
  partitions=$2
  retention_days=$3
  echo "topic ${topic}: ${partitions} partitions, kept ${retention_days} days"
  "$TOPICS_CMD" --bootstrap-server "$KAFKA_BOOTSTRAP" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor "$REPLICATION" \
    --config cleanup.policy=delete \
    --config "retention.ms=$((retention_days * DAY_MS))"
}

check_key() {
  case $1 in
    [a-z]*[!a-z0-9_]* | [!a-z]*)
      echo "partner key '$1' is not lower_snake_case (as in policies/partners.yaml)" >&2
      exit 2
      ;;
  esac
}

for org in $HUB_PARTNERS $INBOX_PARTNERS; do
  check_key "$org"
done

# The internal topic: every committed event, unprojected, keyed by the record id.
create hub.events "$PARTITIONS" 7
# Inbound messages the hub could not apply, with the reason and source offset in their
# headers. Kept longer, so that a partner's broken batch can be looked at and replayed.
create hub.deadletter 1 30

for org in $HUB_PARTNERS; do
  create "partner.${org}.events" "$PARTITIONS" 7
done
for org in $INBOX_PARTNERS; do
  create "partner.${org}.inbox" "$PARTITIONS" 7
done

echo "topics:"
"$TOPICS_CMD" --bootstrap-server "$KAFKA_BOOTSTRAP" --list

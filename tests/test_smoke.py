"""The hub answers a police query end to end: token, policy, SQL, decryption."""

from datetime import UTC, datetime, timedelta

from tests.conftest import SHIFTS_Q

AT_WORK = """query($from: DateTime, $to: DateTime) {
  shifts(from: $from, to: $to, first: 50) { edges { node { status premises { city }
    sexWorker { workingName identity { legalName } } } } } }"""


def test_police_lists_shifts_with_identities(hub):
    data = hub.ok(SHIFTS_Q, as_="demo-police-antwerp", purpose="identity_validation")
    edges = data["shifts"]["edges"]
    assert edges
    node = edges[0]["node"]
    assert node["premises"]["city"] == "Antwerpen"
    assert node["sexWorker"]["workingName"]
    # Identities only of workers at work: shifts in progress or starting within the hour.
    now = datetime.now(UTC)
    window = {"from": now.isoformat(), "to": (now + timedelta(minutes=55)).isoformat()}
    data = hub.ok(AT_WORK, window, as_="demo-police-antwerp", purpose="identity_validation")
    # Registered or validated: a cancelled shift, or one whose validation the police
    # refused, opens no identity.
    nodes = [e["node"] for e in data["shifts"]["edges"]]
    live = [n for n in nodes if n["status"] in ("REGISTERED", "VALIDATED")]
    assert live
    assert all(n["sexWorker"]["identity"]["legalName"] for n in live)
    assert all(n["sexWorker"]["identity"] is None for n in nodes if n not in live)

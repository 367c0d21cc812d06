"""The hub answers a police query end to end: token, policy, SQL, decryption."""

from tests.conftest import SHIFTS_Q


def test_police_lists_shifts_with_identities(hub):
    data = hub.ok(SHIFTS_Q, as_="demo-police-antwerp", purpose="identity_validation")
    edges = data["shifts"]["edges"]
    assert edges
    node = edges[0]["node"]
    assert node["premises"]["city"] == "Antwerpen"
    assert node["sexWorker"]["identity"]["legalName"]

"""eraseIdentity through GraphQL: by the worker or a privacy officer on request."""

from __future__ import annotations

ERASE = "mutation($id: ID!) { eraseIdentity(sexWorkerId: $id) }"
LOOKUP = "query($id: ID!) { sexWorker(id: $id) { workingName identity { legalName } } }"
POLICE = "demo-police-antwerp"


def test_worker_erases_their_own_identity(hub):
    me = hub.demo.sex_worker_ids[0]
    before = hub.ok(LOOKUP, {"id": me}, as_=POLICE, purpose="identity_validation")["sexWorker"]
    assert before["identity"]["legalName"]
    assert hub.ok(ERASE, {"id": me}, as_="demo-worker")["eraseIdentity"] is True
    after = hub.ok(LOOKUP, {"id": me}, as_=POLICE, purpose="identity_validation")["sexWorker"]
    assert after["identity"] is None and after["workingName"] == before["workingName"]
    assert hub.ok(ERASE, {"id": me}, as_="demo-worker")["eraseIdentity"] is False


def test_who_may_erase(hub):
    other = hub.demo.sex_worker_ids[1]
    assert hub.error_code(ERASE, {"id": other}, as_="demo-worker") == "NOT_FOUND"
    assert hub.error_code(ERASE, {"id": other}, as_=POLICE, purpose="identity_validation") == (
        "FORBIDDEN"
    )
    assert hub.ok(ERASE, {"id": other}, as_="demo-dpo-antwerp")["eraseIdentity"] is True
    seen = hub.ok(LOOKUP, {"id": other}, as_=POLICE, purpose="identity_validation")["sexWorker"]
    assert seen is None or seen["identity"] is None

"""`hub policy check|test|export`: the access policies as files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hub.commands.common import fail, settings, with_database


def _directory(args: argparse.Namespace) -> Path:
    return Path(args.dir) if args.dir else settings().policy_dir


def check(args: argparse.Namespace) -> int:
    from hub.auth.controllers import ControllersError, DataControllers
    from hub.policy.document import PolicyError
    from hub.policy.engine import PolicySet, missing_resources
    from hub.policy.guardrails import GUARDRAILS

    directory = _directory(args)
    print(f"{len(GUARDRAILS)} guardrails, which no policy version may break:")
    for guardrail in GUARDRAILS:
        print(f"  {guardrail.key}: {guardrail.text}")
    try:
        policies = PolicySet.from_directory(directory)
    except PolicyError as e:
        for err in e.errors:
            fail(str(err))
        return 1
    rules = sum(len(d.rules) for d in policies.documents.values())
    print(f"{len(policies.documents)} documents, {rules} rules, version {policies.version}")
    cities = sorted(policies.regimes.by_city)
    print(f"{len(cities)} city regimes: {', '.join(cities) or 'none'}")
    for name in missing_resources(policies):
        print(f"note: no document for {name}: nobody may access it")
    try:
        controllers = DataControllers.from_directory(directory)
    except ControllersError as e:
        for err in e.errors:
            fail(str(err))
        return 1
    print(f"{len(controllers.named)} data controllers")
    from hub.connectors.partners import PartnerError, load_partners
    from hub.policy.partner_document import PARTNERS_FILE, is_partner_document

    path = directory / PARTNERS_FILE
    if path.exists() and not is_partner_document(path.read_text()):
        fail(f"{PARTNERS_FILE}: its first key must be `resource: PartnerDirectory`")
        return 1
    try:
        partners = load_partners(directory)
    except PartnerError as e:
        for err in e.errors:
            fail(str(err))
        return 1
    print(f"{len(partners)} partners: {', '.join(p.key for p in partners) or 'none'}")
    return 0


def test(args: argparse.Namespace) -> int:
    from hub.commands.policy_test import run_policy_tests

    directory = _directory(args)
    tests = Path(args.tests) if args.tests else directory / "tests"
    failures = run_policy_tests(directory, tests, out=sys.stdout)
    return 1 if failures else 0


def export(args: argparse.Namespace) -> int:
    """Write the database's active policy versions back to the policy directory."""
    import re

    from hub.db import Database
    from hub.policy.engine import document_resource
    from hub.policy.partner_document import PARTNERS_FILE, PARTNERS_RESOURCE
    from hub.policy.store import active_documents
    from hub.policy.vocabulary import POLICY_DATA_FILES

    config = settings()
    directory = Path(args.dir) if args.dir else config.policy_dir

    async def active(db: Database) -> dict[str, tuple[int, str]]:
        async with db.session() as session:
            return await active_documents(session)

    documents = with_database(config, active)
    if not documents:
        print("no policy versions in the database yet (start the hub once)", file=sys.stderr)
        return 1
    existing = {}
    for path in directory.glob("*.yaml"):
        if path.name not in POLICY_DATA_FILES:
            existing[document_resource(path.read_text(), path.name)] = path
    existing[PARTNERS_RESOURCE] = directory / PARTNERS_FILE
    for resource, (version, text) in sorted(documents.items()):
        default = re.sub(r"(?<!^)(?=[A-Z])", "_", resource).lower() + ".yaml"
        path = existing.get(resource, directory / default)
        path.write_text(text)
        print(f"{path}: {resource} version {version}")
    return 0

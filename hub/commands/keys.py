"""`hub keys rotate|list`: the embedded issuer's signing keys."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from hub.commands.common import fail, settings

EXTERNAL = "the external provider (HUB_OIDC_ISSUER) holds the signing keys"


def _until(not_after: float) -> str:
    return datetime.fromtimestamp(not_after, UTC).isoformat(timespec="seconds")


def rotate(args: argparse.Namespace) -> int:
    from hub.auth.issuer import MAX_TOKEN_LIFETIME_S
    from hub.auth.keys import rotate_signing_key
    from hub.auth.verify import LEEWAY_S

    config = settings()
    if config.oidc_issuer:
        return fail(EXTERNAL, 2)
    # The old key verifies as long as any token it signed can live.
    keep_s = max(config.token_lifetime_s, MAX_TOKEN_LIFETIME_S) + LEEWAY_S
    new, retired = rotate_signing_key(
        config.secret_dir, keep_s=keep_s, revoke_previous=args.revoke_previous
    )
    print(f"new signing key {new.kid} is current (every replica signs with it within a second)")
    for key in retired:
        print(f"retired key {key.kid} verifies until {_until(key.not_after)}")
    if args.revoke_previous:
        print("the previous keys were revoked: every token they signed is refused")
    return 0


def list_keys(_args: argparse.Namespace) -> int:
    from hub.auth.keys import SigningKeys

    config = settings()
    if config.oidc_issuer:
        return fail(EXTERNAL, 2)
    keys = SigningKeys.from_secret_dir(config.secret_dir)
    print(f"current {keys.current.kid}")
    for key in keys.retired():
        print(f"retired {key.kid} verifies until {_until(key.not_after)}")
    return 0

"""`hub token`: mint an access token for a registered client, for local use."""

from __future__ import annotations

import argparse
import asyncio
import sys

from hub.commands.common import (
    fail,
    issuer_from_environment,
    recorded_issuer,
    settings,
)


def token(args: argparse.Namespace) -> int:
    from hub.auth.issuer import EmbeddedIssuer
    from hub.auth.keys import SigningKey
    from hub.db import Database
    from hub.errors import HubError

    config = settings()
    if config.oidc_issuer:
        return fail("tokens come from the external provider (HUB_OIDC_ISSUER)", 2)
    # The token's `iss` must be the one of the hub that will verify it.
    issuer = args.issuer or issuer_from_environment() or recorded_issuer(config)
    if issuer is None:
        print(
            f"note: no running `hub serve` recorded its address in {config.secret_dir}; the "
            f"token's issuer is {config.issuer_url} (give --issuer or HUB_ISSUER_URL)",
            file=sys.stderr,
        )
    else:
        config = config.with_(issuer_url=issuer)

    async def mint() -> str:
        db = Database(config.database_url)
        try:
            minter = EmbeddedIssuer(config, db, SigningKey.from_secret_dir(config.secret_dir))
            return await minter.mint(args.client, lifetime_s=args.lifetime)
        finally:
            await db.dispose()

    try:
        print(asyncio.run(mint()))
    except HubError as e:
        return fail(e.message)
    return 0

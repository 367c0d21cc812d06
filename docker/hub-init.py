"""One-shot preparation before the hub replicas start (docker-compose.yml, `hub-init`).

Everything a replica does on its first start that must happen exactly once, done here,
alone, so that replicas starting together do not race:

- migrate the database (`hub serve` migrates too: then a no-op);
- create the keys in HUB_SECRET_DIR (master, pseudonym and cursor keys), shared by all
  replicas through one volume;
- seed the first policy versions from HUB_POLICY_DIR into the database.

It runs the app's own start-up and shut-down once, with Kafka off (the connectors are
not started here).
"""

import asyncio

from hub.app import create_app
from hub.config import Settings
from hub.db import upgrade


async def start_once(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass


def main() -> None:
    settings = Settings.from_env()
    upgrade(settings.database_url)
    asyncio.run(start_once(settings.with_(kafka_bootstrap=None)))
    keys = sorted(p.name for p in settings.secret_dir.iterdir())
    print(f"database migrated, policies seeded, keys in {settings.secret_dir}: {keys}")


if __name__ == "__main__":
    main()

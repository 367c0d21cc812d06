"""The API of self-registration, participation per city and pairing codes
(hub/services/participation.py and pairing.py): their types, queries and mutations, mixed
into the Query and Mutation roots."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from hub.models import Pairing as PairingRow
from hub.models import Participation as ParticipationRow
from hub.read.nodes import read_back, related, select_nodes, selected, spec
from hub.schema import inputs
from hub.schema.context import Context
from hub.schema.run import run
from hub.schema.types import (
    ORGANISATION,
    SEALED_ID,
    SEX_WORKER,
    SHIFT,
    Organisation,
    SexWorker,
    Shift,
    builder,
)
from hub.services import pairing, participation, shifts
from hub.services.base import command

ID = strawberry.ID
MAX_CODE = 100


@strawberry.type(
    description="A worker's participation in one city's regime: one per worker and city. "
    "A worker who moves or works in another city with a voluntary regime takes part there "
    "without registering again."
)
class Participation:
    id: ID = strawberry.field(description=SEALED_ID)
    city: str | None = strawberry.field(default=None, description="The city.")
    regime: str | None = strawberry.field(
        default=None,
        description="The city's participation kind when the worker joined: voluntary or "
        "compulsory (policies/regimes.yaml).",
    )
    how: str | None = strawberry.field(
        default=None,
        description="Who recorded it: `self` (the worker, in a voluntary regime) or `police` "
        "(at identity validation, where the regime has it).",
    )
    status: str | None = strawberry.field(default=None, description="`active` or `ended`.")
    started_at: datetime | None = strawberry.field(
        default=None, description="When the worker began taking part."
    )
    ended_at: datetime | None = strawberry.field(
        default=None, description="When the worker stopped; null while active."
    )
    sex_worker_id: ID | None = strawberry.field(
        default=None, description="The worker, by the id you hold for the worker."
    )
    sex_worker_key: strawberry.Private[str | None] = None

    @strawberry.field(description="The worker, under the worker record's own policy.")
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await related(info, "Participation", SEX_WORKER, self.sex_worker_key)


@strawberry.type(
    description="A link a worker made with an operator (or employer) by a pairing code. "
    "The paired organisation registers shifts for the worker where the city's regime has no "
    "police validation; the worker revokes it at any time."
)
class Pairing:
    id: ID = strawberry.field(description=SEALED_ID)
    status: str | None = strawberry.field(
        default=None,
        description="`pending` (a code not redeemed yet), `active` (redeemed) or `revoked`.",
    )
    created_at: datetime | None = strawberry.field(
        default=None, description="When the worker made the code."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="Until when the code may be redeemed (24 hours)."
    )
    redeemed_at: datetime | None = strawberry.field(
        default=None, description="When the organisation redeemed the code."
    )
    revoked_at: datetime | None = strawberry.field(
        default=None, description="When the worker revoked it; null while it holds."
    )
    sex_worker_id: ID | None = strawberry.field(
        default=None, description="The worker, by the id you hold for the worker."
    )
    sex_worker_key: strawberry.Private[str | None] = None
    organisation_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The worker, under the worker record's own policy.")
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await related(info, "Pairing", SEX_WORKER, self.sex_worker_key)

    @strawberry.field(description="The organisation that redeemed the code; null before.")
    async def organisation(self, info: Info) -> Organisation | None:
        return await related(info, "Pairing", ORGANISATION, self.organisation_id)


@strawberry.type(description="A new pairing code: the code is shown this once, never again.")
class PairingCode:
    code: str = strawberry.field(
        description="The code to give to the organisation, e.g. 7KQ2-M9XD-4TBW-HR3N. The hub "
        "keeps only its hash: it cannot show it again."
    )
    pairing: Pairing = strawberry.field(description="The pairing, pending until redeemed.")


@strawberry.input(description="A worker's own registration: a working name, never an identity.")
class SelfRegistrationInput:
    working_name: str = strawberry.field(description="The name you work under (werknaam).")
    city: str = strawberry.field(
        description="The city to take part in; its regime must be voluntary without police "
        "validation (e.g. Gent)."
    )
    confirms_adult: bool = strawberry.field(
        description="You confirm that you are 18 or older (declared, not verified)."
    )
    languages: list[str] = strawberry.field(
        default_factory=list, description="Languages you speak, ISO 639 codes (nl, fr, ro)."
    )


PARTICIPATION = spec(
    "Participation",
    "Participation",
    builder(
        Participation,
        "Participation",
        relations={"sex_worker": ("sex_worker_key", "sex_worker_id")},
    ),
)
PAIRING = spec(
    "Pairing",
    "Pairing",
    builder(
        Pairing,
        "Pairing",
        relations={
            "sex_worker": ("sex_worker_key", "sex_worker_id"),
            "organisation": ("organisation_id", "organisation_id"),
        },
    ),
)


@strawberry.type
class RegistrationQuery:
    @strawberry.field(
        description="Participations per city: your own (a sex worker), or those your city's "
        "policy lets you see."
    )
    async def participations(self, info: Info) -> list[Participation]:
        ctx: Context = info.context
        grant = ctx.actor.require_grant("Participation", "read")
        pairs = await select_nodes(
            ctx,
            PARTICIPATION,
            grant,
            selected(info),
            order=[ParticipationRow.city, ParticipationRow.id],  # type: ignore[list-item]
            limit=200,
        )
        return [n for _r, n in pairs]

    @strawberry.field(
        description="Pairings: your own (a sex worker, codes waiting included), or those "
        "made with your organisation (an operator). Newest first."
    )
    async def pairings(self, info: Info) -> list[Pairing]:
        ctx: Context = info.context
        grant = ctx.actor.require_grant("Pairing", "read")
        pairs = await select_nodes(
            ctx,
            PAIRING,
            grant,
            selected(info),
            order=[PairingRow.created_at.desc(), PairingRow.id],  # type: ignore[attr-defined]
            limit=200,
        )
        return [n for _r, n in pairs]


@strawberry.type
class RegistrationMutation:
    @strawberry.mutation(
        description="A person of the consoles with the sex_worker role and no worker record "
        "registers themself, under a working name only, where the city's regime is voluntary "
        "without police validation (Ghent); elsewhere CONFLICT: the police register workers "
        "there. Log in again afterwards to act as the new worker."
    )
    async def register_myself(
        self,
        info: Info,
        input: Annotated[
            SelfRegistrationInput,
            strawberry.argument(description="Your working name, city and languages."),
        ],
    ) -> SexWorker:
        row = await run(
            info,
            participation.register_myself,
            command=command(participation.RegisterMyself, input),
        )
        return await read_back(info, SEX_WORKER, row.id, "register")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="A sex worker takes part in another city with a voluntary regime (or "
        "again in one left), without registering again."
    )
    async def join_city(
        self,
        info: Info,
        city: Annotated[str, strawberry.argument(description="The city, e.g. Gent.")],
    ) -> Participation:
        row = await run(
            info,
            participation.join_city,
            command=command(participation.JoinCity, {"city": city}),
        )
        return await read_back(info, PARTICIPATION, row.id, "register")  # type: ignore[no-any-return]

    @strawberry.mutation(description="A sex worker stops taking part in a city.")
    async def leave_city(
        self,
        info: Info,
        id: Annotated[
            ID, strawberry.argument(description="The participation, by the id you hold for it.")
        ],
    ) -> Participation:
        row = await run(info, participation.leave_city, participation_id=info.context.unseal(id))
        return await read_back(info, PARTICIPATION, row.id, "end")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="A sex worker makes a pairing code for an operator or employer: shown "
        "once, valid 24 hours and once; at most 3 waiting at a time."
    )
    async def create_pairing_code(self, info: Info) -> PairingCode:
        row, code = await run(info, pairing.create_pairing_code)
        found = await read_back(info, PAIRING, row.id, "create")
        return PairingCode(code=code, pairing=found)

    @strawberry.mutation(
        description="An operator redeems a worker's pairing code, linking its organisation to "
        "the worker. A wrong, expired or used code is NOT_FOUND, alike; after 5 wrong codes in "
        "15 minutes every try is RATE_LIMITED."
    )
    async def redeem_pairing_code(
        self,
        info: Info,
        code: Annotated[
            str,
            strawberry.argument(
                description="The code the worker gave you (case, spaces and dashes do not matter)."
            ),
        ],
    ) -> Pairing:
        ctx: Context = info.context
        row = await pairing.redeem_pairing_code(
            db=ctx.hub.db, actor=ctx.actor, code=code[:MAX_CODE]
        )
        return await read_back(info, PAIRING, row.id, "redeem")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="A sex worker revokes a pairing (or withdraws a code): the organisation "
        "registers nothing more for the worker from the next request."
    )
    async def revoke_pairing(
        self,
        info: Info,
        id: Annotated[ID, strawberry.argument(description="The pairing, by the id you hold.")],
    ) -> Pairing:
        row = await run(info, pairing.revoke_pairing, pairing_id=info.context.unseal(id))
        return await read_back(info, PAIRING, row.id, "revoke")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="An operator paired with the worker registers a shift in advance on its "
        "own premises: no rental to confirm and no police step, only where the city's regime "
        "has no police validation and the worker takes part in that city."
    )
    async def register_paired_shift(
        self,
        info: Info,
        input: Annotated[
            inputs.ShiftInput,
            strawberry.argument(description="The premises, window, worker and period."),
        ],
    ) -> Shift:
        row = await run(
            info,
            pairing.register_paired_shift,
            command=command(shifts.RegisterShift, input, unseal=info.context.unseal),
        )
        return await read_back(info, SHIFT, row.id, "register")  # type: ignore[no-any-return]

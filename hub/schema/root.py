"""The Query and Mutation roots (the API's contract, docs/schema.graphql) and the schema factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, SchemaExtension, ValidationCache
from strawberry.types import Info
from strawberry.types.execution import ExecutionContext

from hub.errors import Code, HubError
from hub.models import Alert as AlertRow
from hub.models import Consent as ConsentRow
from hub.models import Organisation as OrganisationRow
from hub.read import filters
from hub.read.nodes import fetch_page, node_loader, read_back, select_nodes, selected
from hub.schema import inputs
from hub.schema.audit_status import AuditStatusQuery
from hub.schema.context import Context
from hub.schema.enums import (
    Branch,
    CertificateStatus,
    HelpdeskStatus,
    MeasureStatus,
    RecognitionStatus,
    ReportStatus,
    TraffickingStatus,
)
from hub.schema.indicators import IndicatorsQuery
from hub.schema.limits import CostLimit, CostModel, LimitedParser, cached_parser, complexity_rule
from hub.schema.policies import PolicyMutation, PolicyQuery
from hub.schema.registration import RegistrationMutation, RegistrationQuery
from hub.schema.run import run
from hub.schema.selfservice import SelfServiceMutation, SelfServiceQuery, defer_open_cases
from hub.schema.subscriptions import Subscription
from hub.schema.types import (
    ACCESS_LOG,
    ALERT,
    CARE_CONTACT,
    CERTIFICATE,
    CONSENT,
    EMPLOYMENT,
    HELPDESK_REQUEST,
    INSPECTION,
    INVESTIGATION,
    MEASURE,
    ORGANISATION,
    PREMISES,
    REFERRAL,
    RENTAL_AGREEMENT,
    REPORT,
    SEX_WORKER,
    SHIFT,
    TRAFFICKING_SUSPICION,
    AccessLogEntry,
    Alert,
    CareContact,
    Certificate,
    Connection,
    Consent,
    EmploymentRelation,
    HelpdeskRequest,
    Inspection,
    Investigation,
    Measure,
    Organisation,
    Premises,
    Principal,
    Referral,
    RentalAgreement,
    Report,
    SexWorker,
    Shift,
    TraffickingSuspicion,
    connection,
)
from hub.services import (
    care,
    consent,
    employment,
    erasure,
    inspections,
    investigations,
    measures,
    registration,
    reports,
    shifts,
)
from hub.services.base import command

log = logging.getLogger("hub.graphql")
ID = strawberry.ID
# The arguments of every list, described once.
First = Annotated[
    int | None,
    strawberry.argument(
        description="At most this many records (default 50; at most the page cap, "
        "HUB_PAGE_CAP, 100 unless configured)."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(description="The `endCursor` of the page before, to continue after it."),
]


@strawberry.type(
    description="What a caller may read, each answer under the policy for the caller's "
    "role and the request's purpose. Records the policy does not reach are "
    "absent; fields it withholds are null and named in `extensions.withheld`."
)
class Query(PolicyQuery, IndicatorsQuery, AuditStatusQuery, SelfServiceQuery, RegistrationQuery):
    @strawberry.field(description="The caller, as its token says. Needs no purpose.")
    def me(self, info: Info) -> Principal:
        p = info.context.actor.principal
        return Principal(
            subject=p.subject,
            organisation_id=ID(info.context.seal.seal(p.org_id)),
            organisation_kind=p.org_kind,
            city=p.city,
            roles=sorted(p.roles),
            purposes=sorted(p.purposes),
            sex_worker_id=ID(info.context.seal.seal(p.sex_worker_id)) if p.sex_worker_id else None,
        )

    @strawberry.field(description="The partner organisations the caller may see, by name.")
    async def organisations(self, info: Info) -> list[Organisation]:
        ctx: Context = info.context
        grant = ctx.actor.require_grant("Organisation", "read")
        pairs = await select_nodes(
            ctx,
            ORGANISATION,
            grant,
            selected(info),
            order=[OrganisationRow.name, OrganisationRow.id],
            limit=1000,
        )
        return [n for _r, n in pairs]

    @strawberry.field(description="Premises (panden), by id.")
    async def premises(
        self,
        info: Info,
        city: Annotated[
            str | None, strawberry.argument(description="Only premises in this city.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Premises]:
        return connection(
            *await fetch_page(
                info,
                PREMISES,
                conditions=filters.premises(city),
                order=filters.PREMISES_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(description="Shift registrations (pandkalender), earliest first.")
    async def shifts(
        self,
        info: Info,
        premises_id: Annotated[
            ID | None,
            strawberry.argument(
                description="Only shifts at these premises (the id you hold for them)."
            ),
        ] = None,
        from_: Annotated[
            datetime | None,
            strawberry.argument(name="from", description="Only shifts that end after this moment."),
        ] = None,
        to: Annotated[
            datetime | None,
            strawberry.argument(description="Only shifts that start before this moment."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Shift]:
        return connection(
            *await fetch_page(
                info,
                SHIFT,
                conditions=filters.shifts(info.context.unseal_optional(premises_id), from_, to),
                order=filters.SHIFTS_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(description="Rental agreements of windows, by premises.")
    async def rental_agreements(
        self,
        info: Info,
        premises_id: Annotated[
            ID | None,
            strawberry.argument(
                description="Only agreements at these premises (the id you hold for them)."
            ),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[RentalAgreement]:
        return connection(
            *await fetch_page(
                info,
                RENTAL_AGREEMENT,
                conditions=filters.rental_agreements(info.context.unseal_optional(premises_id)),
                order=filters.RENTALS_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(
        description="One sex worker's record, by the id you hold for it; null if the policy "
        "does not reach it."
    )
    async def sex_worker(
        self,
        info: Info,
        id: Annotated[
            ID,
            strawberry.argument(description="The worker's id, as your organisation received it."),
        ],
    ) -> SexWorker | None:
        ctx: Context = info.context
        ctx.actor.require_grant("SexWorker", "read")
        return await node_loader(ctx, SEX_WORKER, "id", selected(info)).load(ctx.unseal(id))  # type: ignore[no-any-return]

    @strawberry.field(description="Police checks (controles), newest first.")
    async def inspections(
        self,
        info: Info,
        city: Annotated[
            str | None, strawberry.argument(description="Only checks in this city.")
        ] = None,
        branch: Annotated[
            Branch | None, strawberry.argument(description="Only checks of this branch.")
        ] = None,
        from_: Annotated[
            datetime | None,
            strawberry.argument(name="from", description="Only checks at or after this moment."),
        ] = None,
        to: Annotated[
            datetime | None, strawberry.argument(description="Only checks before this moment.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Inspection]:
        return connection(
            *await fetch_page(
                info,
                INSPECTION,
                conditions=filters.inspections(city, branch, from_, to),
                order=filters.INSPECTIONS_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(description="Administrative measures (bestuurlijke maatregelen).")
    async def measures(
        self,
        info: Info,
        city: Annotated[
            str | None, strawberry.argument(description="Only measures of this city.")
        ] = None,
        status: Annotated[
            MeasureStatus | None, strawberry.argument(description="Only measures at this step.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Measure]:
        return connection(
            *await fetch_page(
                info,
                MEASURE,
                conditions=filters.measures(city, status),
                order=filters.MEASURES_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(
        description="Reports (meldingen): the worker's own, or those shared with the caller's "
        "organisation."
    )
    async def reports(
        self,
        info: Info,
        status: Annotated[
            ReportStatus | None, strawberry.argument(description="Only reports with this status.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Report]:
        return connection(
            *await fetch_page(
                info,
                REPORT,
                conditions=filters.reports(status),
                order=filters.REPORTS_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(description="Warnings (waarschuwingen) for the caller, newest first.")
    async def alerts(
        self,
        info: Info,
        city: Annotated[
            str | None, strawberry.argument(description="Only warnings for this city.")
        ] = None,
        active_only: Annotated[
            bool, strawberry.argument(description="Leave out expired warnings (the default).")
        ] = True,
    ) -> list[Alert]:
        ctx: Context = info.context
        grant = ctx.actor.require_grant("Alert", "read")
        pairs = await select_nodes(
            ctx,
            ALERT,
            grant,
            selected(info),
            *filters.alerts(city, active_only, ctx.actor.now),
            order=[AlertRow.issued_at.desc(), AlertRow.id],  # type: ignore[attr-defined]
            limit=ctx.hub.page_cap,
        )
        return [node for _row, node in pairs]

    @strawberry.field(
        description="The caller's NGO's own care contacts (never another organisation's)."
    )
    async def care_contacts(
        self,
        info: Info,
        from_: Annotated[
            date | None,
            strawberry.argument(name="from", description="Only contacts on or after this day."),
        ] = None,
        to: Annotated[
            date | None, strawberry.argument(description="Only contacts on or before this day.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[CareContact]:
        return connection(
            *await fetch_page(
                info,
                CARE_CONTACT,
                conditions=filters.care_contacts(from_, to),
                order=filters.CARE_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(description="Consents you gave (a sex worker), or that were given to you.")
    async def my_consents(self, info: Info) -> list[Consent]:
        ctx: Context = info.context
        grant = ctx.actor.require_grant("Consent", "read")
        pairs = await select_nodes(
            ctx,
            CONSENT,
            grant,
            selected(info),
            order=[ConsentRow.granted_at.desc()],  # type: ignore[attr-defined]
            limit=500,
        )
        return [n for _r, n in pairs]

    @strawberry.field(description="The access log, for privacy officers. Newest first.")
    async def access_log(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        subject_id: Annotated[
            ID | None,
            strawberry.argument(
                description="Only entries about this sex worker (the id you hold for the worker)."
            ),
        ] = None,
        organisation_id: Annotated[
            ID | None,
            strawberry.argument(
                description="Only entries of this organisation's callers (the id you hold for it)."
            ),
        ] = None,
        role: Annotated[
            str | None,
            strawberry.argument(description="Only entries of callers holding this role."),
        ] = None,
        purpose: Annotated[
            str | None,
            strawberry.argument(description="Only entries made for this purpose."),
        ] = None,
        resource: Annotated[
            str | None,
            strawberry.argument(description="Only entries about this resource, e.g. SexWorker."),
        ] = None,
        from_: Annotated[
            datetime | None,
            strawberry.argument(name="from", description="Only entries at or after this time."),
        ] = None,
        to: Annotated[
            datetime | None,
            strawberry.argument(description="Only entries before this time."),
        ] = None,
    ) -> Connection[AccessLogEntry]:
        search = filters.access_log_search(role, purpose, resource, from_, to)
        return connection(
            *await fetch_page(
                info,
                ACCESS_LOG,
                conditions=filters.access_log(
                    info.context.unseal_optional(subject_id),
                    info.context.unseal_optional(organisation_id),
                    **search,
                ),
                order=filters.ACCESS_LOG_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(
        description="For a sex worker: every access to the worker's records, by whom and "
        "why. Newest first."
    )
    async def my_access_log(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[AccessLogEntry]:
        ctx: Context = info.context
        me = ctx.actor.principal.sex_worker_id
        if me is None:
            raise ctx.actor.deny(
                "read", "AccessLog", Code.FORBIDDEN, "myAccessLog is for sex workers"
            )
        page, has_next = await fetch_page(
            info,
            ACCESS_LOG,
            conditions=filters.my_access_log(me),
            order=filters.ACCESS_LOG_ORDER,
            first=first,
            after=after,
        )
        return connection(await defer_open_cases(ctx, me, page), has_next)

    @strawberry.field(
        description="Named cases (investigations): those of your police organisation (an "
        "investigator), or all of them (a privacy officer). Newest first."
    )
    async def investigations(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Investigation]:
        return connection(
            *await fetch_page(
                info,
                INVESTIGATION,
                order=filters.INVESTIGATIONS_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(
        description="Employment relations (labour law of 2024): an employer's own, a "
        "worker's own, or, for the labour inspection, all of them. Latest start first."
    )
    async def employment_relations(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[EmploymentRelation]:
        return connection(
            *await fetch_page(
                info, EMPLOYMENT, order=filters.EMPLOYMENT_ORDER, first=first, after=after
            )
        )

    @strawberry.field(description="Referrals from or to the caller's NGO.")
    async def referrals(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Referral]:
        return connection(
            *await fetch_page(
                info, REFERRAL, order=filters.REFERRALS_ORDER, first=first, after=after
            )
        )

    @strawberry.field(
        description="The trafficking suspicions your own organisation recorded (police or "
        "NGO); never another organisation's. Newest change first."
    )
    async def trafficking_suspicions(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[TraffickingSuspicion]:
        return connection(
            *await fetch_page(
                info,
                TRAFFICKING_SUSPICION,
                order=filters.SUSPICIONS_ORDER,
                first=first,
                after=after,
            )
        )

    @strawberry.field(
        description="The union's own helpdesk requests (for the union only). Newest first."
    )
    async def helpdesk_requests(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[HelpdeskRequest]:
        return connection(
            *await fetch_page(
                info, HELPDESK_REQUEST, order=filters.HELPDESK_ORDER, first=first, after=after
            )
        )


@strawberry.type(
    description="What a caller may change, each change allowed by the policy for the "
    "caller's role and the request's purpose, applied in one transaction with "
    "its event, and written to the access log."
)
class Mutation(PolicyMutation, RegistrationMutation, SelfServiceMutation):
    @strawberry.mutation(description="Police, at identity validation.")
    async def register_sex_worker(
        self,
        info: Info,
        input: Annotated[
            inputs.RegisterSexWorkerInput,
            strawberry.argument(
                description="The worker's working name and identity, as validated."
            ),
        ],
    ) -> SexWorker:
        order = command(registration.RegisterSexWorker, input, unseal=info.context.unseal)
        ctx: Context = info.context
        if order.pairing_code is not None:
            row = await registration.register_with_pairing_code(
                db=ctx.hub.db,
                actor=ctx.actor,
                command=order,
                code=order.pairing_code,
                keyring=ctx.hub.keyring,
                on_commit=ctx.hub.notify_committed,
            )
        else:
            row = await run(
                info, registration.register_sex_worker, command=order, keyring=ctx.hub.keyring
            )
        return await read_back(info, SEX_WORKER, row.id, "register")  # type: ignore[no-any-return]

    @strawberry.mutation(description="Operator, for its own premises.")
    async def record_rental_agreement(
        self,
        info: Info,
        input: Annotated[
            inputs.RentalAgreementInput,
            strawberry.argument(description="The premises, window, tenant and period."),
        ],
    ) -> RentalAgreement:
        row = await run(
            info,
            shifts.record_rental_agreement,
            command=command(shifts.RecordRental, input, unseal=info.context.unseal),
        )
        return await read_back(info, RENTAL_AGREEMENT, row.id, "record")  # type: ignore[no-any-return]

    @strawberry.mutation(description="The worker whose rental it is.")
    async def confirm_rental_agreement(
        self,
        info: Info,
        id: Annotated[
            ID, strawberry.argument(description="The agreement, by the id you hold for it.")
        ],
    ) -> RentalAgreement:
        row = await run(info, shifts.confirm_rental_agreement, agreement_id=info.context.unseal(id))
        return await read_back(info, RENTAL_AGREEMENT, row.id, "confirm")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Labour inspector: the labour inspection's decision on an employer's "
        "recognition. A withdrawal is final."
    )
    async def set_employer_recognition(
        self,
        info: Info,
        organisation_id: Annotated[
            ID, strawberry.argument(description="The employer, by the id you hold for it.")
        ],
        status: Annotated[
            RecognitionStatus, strawberry.argument(description="The recognition's new status.")
        ],
        recognition_number: Annotated[
            str | None,
            strawberry.argument(
                description="The recognition number (e.g. SW-2025-0042), given when "
                "recognising; an employer keeps its number once given."
            ),
        ] = None,
    ) -> Organisation:
        args = {
            "organisation_id": organisation_id,  # unsealed by the command
            "status": status,
            "recognition_number": recognition_number,
        }
        row = await run(
            info,
            employment.set_recognition,
            command=command(employment.SetRecognition, args, unseal=info.context.unseal),
        )
        return await read_back(info, ORGANISATION, row.id, "set_recognition")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="A recognised employer: it employs a worker (the worker sees it)."
    )
    async def record_employment(
        self,
        info: Info,
        input: Annotated[
            inputs.EmploymentInput,
            strawberry.argument(description="The employee, the contract's kind and its days."),
        ],
    ) -> EmploymentRelation:
        row = await run(
            info,
            employment.record_employment,
            command=command(employment.RecordEmployment, input, unseal=info.context.unseal),
        )
        return await read_back(info, EMPLOYMENT, row.id, "record")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="The employer: the employment's last day, earlier or as agreed."
    )
    async def end_employment(
        self,
        info: Info,
        id: Annotated[
            ID, strawberry.argument(description="The employment, by the id you hold for it.")
        ],
        ends_on: Annotated[date, strawberry.argument(description="The employment's last day.")],
    ) -> EmploymentRelation:
        row = await run(
            info,
            employment.end_employment,
            relation_id=info.context.unseal(id),
            command=command(employment.EndEmployment, {"ends_on": ends_on}),
        )
        return await read_back(info, EMPLOYMENT, row.id, "end")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Operator or employer, for its own premises: a self-employed worker's "
        "shift under a confirmed rental, or a recognised employer's for its own employee "
        "(as the city's regime says)."
    )
    async def register_shift(
        self,
        info: Info,
        input: Annotated[
            inputs.ShiftInput,
            strawberry.argument(description="The premises, window, worker and period."),
        ],
    ) -> Shift:
        row = await run(
            info,
            shifts.register_shift,
            command=command(shifts.RegisterShift, input, unseal=info.context.unseal),
        )
        return await read_back(info, SHIFT, row.id, "register")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Operator, for its own premises, or the worker whose shift it is."
    )
    async def cancel_shift(
        self,
        info: Info,
        id: Annotated[ID, strawberry.argument(description="The shift, by the id you hold for it.")],
    ) -> Shift:
        row = await run(info, shifts.cancel_shift, shift_id=info.context.unseal(id))
        return await read_back(info, SHIFT, row.id, "cancel")  # type: ignore[no-any-return]

    @strawberry.mutation(description="Police, on site.")
    async def validate_shift(
        self,
        info: Info,
        id: Annotated[ID, strawberry.argument(description="The shift, by the id you hold for it.")],
        input: Annotated[
            inputs.ValidationInput,
            strawberry.argument(description="What the police established on site."),
        ],
    ) -> Shift:
        row = await run(
            info,
            shifts.validate_shift,
            shift_id=info.context.unseal(id),
            command=command(shifts.ValidateShift, input, unseal=info.context.unseal),
        )
        return await read_back(info, SHIFT, row.id, "validate")  # type: ignore[no-any-return]

    @strawberry.mutation(description="Police.")
    async def record_inspection(
        self,
        info: Info,
        input: Annotated[
            inputs.InspectionInput,
            strawberry.argument(description="The check: branch, time, counts, outcome."),
        ],
    ) -> Inspection:
        row = await run(
            info,
            inspections.record_inspection,
            command=command(inspections.RecordInspection, input, unseal=info.context.unseal),
        )
        return await read_back(info, INSPECTION, row.id, "record")  # type: ignore[no-any-return]

    @strawberry.mutation(description="City prostitution officer.")
    async def set_certificate_status(
        self,
        info: Info,
        premises_id: Annotated[
            ID,
            strawberry.argument(
                description="The premises whose certificate it is (the id you hold for them)."
            ),
        ],
        status: Annotated[CertificateStatus, strawberry.argument(description="The new status.")],
        reason: Annotated[
            str,
            strawberry.argument(
                description="The decision's reason or reference (kept with the certificate)."
            ),
        ],
        valid_until: Annotated[
            date | None, strawberry.argument(description="The last day it is valid, when granting.")
        ] = None,
    ) -> Certificate:
        args = {
            "premises_id": premises_id,  # unsealed by the command
            "status": status,
            "reason": reason,
            "valid_until": valid_until,
        }
        row = await run(
            info,
            inspections.set_certificate_status,
            command=command(inspections.SetCertificateStatus, args, unseal=info.context.unseal),
        )
        return await read_back(info, CERTIFICATE, row.id, "set_status")  # type: ignore[no-any-return]

    @strawberry.mutation(description="City administrative enforcement.")
    async def open_measure(
        self,
        info: Info,
        input: Annotated[
            inputs.MeasureInput,
            strawberry.argument(description="The kind, target and amount."),
        ],
    ) -> Measure:
        fields = {
            "kind": input.kind,
            "amount_cents": input.amount_cents,
            "premises_id": input.target.premises_id,
            "sex_worker_id": input.target.sex_worker_id,
            "person_name": input.target.person_name,
            "person_role": input.target.person_role,
        }
        row = await run(
            info,
            measures.open_measure,
            command=command(measures.OpenMeasure, fields, unseal=info.context.unseal),
            keyring=info.context.hub.keyring,
        )
        return await read_back(info, MEASURE, row.id, "open")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="City administrative enforcement: the next step of a measure (opened, "
        "hearing, decided, appealed, executed)."
    )
    async def advance_measure(
        self,
        info: Info,
        id: Annotated[
            ID, strawberry.argument(description="The measure, by the id you hold for it.")
        ],
        status: Annotated[MeasureStatus, strawberry.argument(description="The step to move to.")],
        note: Annotated[
            str | None, strawberry.argument(description="What the city notes with the step.")
        ] = None,
    ) -> Measure:
        row = await run(
            info,
            measures.advance_measure,
            measure_id=info.context.unseal(id),
            command=command(
                measures.AdvanceMeasure,
                {"status": status, "note": note},
                unseal=info.context.unseal,
            ),
        )
        return await read_back(info, MEASURE, row.id, "advance")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="A police investigator: open a named case of the investigator's "
        "organisation, naming the workers it concerns. Its reference is then what a request "
        "states (Hub-Case header) to read their identity while the case is open."
    )
    async def open_investigation(
        self,
        info: Info,
        input: Annotated[
            inputs.InvestigationInput,
            strawberry.argument(
                description="The reference, the prosecutor's office, the workers, the expiry."
            ),
        ],
    ) -> Investigation:
        row = await run(
            info,
            investigations.open_investigation,
            command=command(investigations.OpenInvestigation, input, unseal=info.context.unseal),
        )
        return await read_back(info, INVESTIGATION, row.id, "open")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="A police investigator: extend an open case to a later expiry, at most 12 "
        "months ahead. A closed or expired case is never extended."
    )
    async def extend_investigation(
        self,
        info: Info,
        id: Annotated[ID, strawberry.argument(description="The case, by the id you hold for it.")],
        expires_at: Annotated[
            datetime, strawberry.argument(description="The new expiry, later than the present.")
        ],
    ) -> Investigation:
        row = await run(
            info,
            investigations.extend_investigation,
            investigation_id=info.context.unseal(id),
            command=command(investigations.ExtendInvestigation, {"expires_at": expires_at}),
        )
        return await read_back(info, INVESTIGATION, row.id, "extend")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="A police investigator: close a case (final). From then on the workers it "
        "names see in their access log the reads made under it."
    )
    async def close_investigation(
        self,
        info: Info,
        id: Annotated[ID, strawberry.argument(description="The case, by the id you hold for it.")],
    ) -> Investigation:
        row = await run(
            info, investigations.close_investigation, investigation_id=info.context.unseal(id)
        )
        return await read_back(info, INVESTIGATION, row.id, "close")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="A sex worker, anonymously if the worker wishes. An anonymous report's "
        "answer carries its `followUpCode`, this once."
    )
    async def file_report(
        self,
        info: Info,
        input: Annotated[
            inputs.ReportInput,
            strawberry.argument(
                description="The category, text, and the organisations to share it with."
            ),
        ],
    ) -> Report:
        code = reports.new_follow_up_code() if input.anonymous else None
        row = await run(
            info,
            reports.file_report,
            command=command(reports.FileReport, input, unseal=info.context.unseal),
            follow_up_code=code,
        )
        node: Report = await read_back(info, REPORT, row.id, "file")
        if node is not None:
            node.follow_up_code = code
        return node

    @strawberry.mutation(description="An organisation the report was shared with, or its author.")
    async def reply_to_report(
        self,
        info: Info,
        id: Annotated[
            ID, strawberry.argument(description="The report, by the id you hold for it.")
        ],
        text: Annotated[str, strawberry.argument(description="The answer's text.")],
    ) -> Report:
        row = await run(
            info,
            reports.reply_to_report,
            report_id=info.context.unseal(id),
            command=command(reports.ReplyToReport, {"text": text}, unseal=info.context.unseal),
        )
        return await read_back(info, REPORT, row.id, "reply")  # type: ignore[no-any-return]

    @strawberry.mutation(description="Police or NGO.")
    async def issue_alert(
        self,
        info: Info,
        input: Annotated[
            inputs.AlertInput,
            strawberry.argument(description="The audience, severity, texts and expiry."),
        ],
    ) -> Alert:
        row = await run(
            info,
            reports.issue_alert,
            command=command(reports.IssueAlert, input, unseal=info.context.unseal),
        )
        return await read_back(info, ALERT, row.id, "issue")  # type: ignore[no-any-return]

    @strawberry.mutation(description="NGO.")
    async def record_care_contact(
        self,
        info: Info,
        input: Annotated[
            inputs.CareContactInput,
            strawberry.argument(description="The contact, in the minimum format."),
        ],
    ) -> CareContact:
        row = await run(
            info,
            care.record_care_contact,
            command=command(
                care.RecordCareContact,
                input,
                unseal=info.context.unseal,
                client_ref_pattern=info.context.client_ref_pattern,
            ),
        )
        return await read_back(info, CARE_CONTACT, row.id, "record")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="NGO or police: with the person's consent, or for a victim under "
        "protection on its legal basis; to an NGO on the hub or a destination outside it."
    )
    async def refer_client(
        self,
        info: Info,
        input: Annotated[
            inputs.ReferralInput,
            strawberry.argument(
                description="The organisation referred to, the client reference and the reason."
            ),
        ],
    ) -> Referral:
        row = await run(
            info,
            care.refer_client,
            command=command(
                care.ReferClient,
                input,
                unseal=info.context.unseal,
                client_ref_pattern=info.context.client_ref_pattern,
            ),
        )
        return await read_back(info, REFERRAL, row.id, "refer")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Police or NGO: record a suspicion of trafficking, explicitly. Only your "
        "own organisation will see it."
    )
    async def record_trafficking_suspicion(
        self,
        info: Info,
        input: Annotated[
            inputs.TraffickingSuspicionInput,
            strawberry.argument(description="The indicators and, if known, the person."),
        ],
    ) -> TraffickingSuspicion:
        row = await run(
            info,
            care.record_trafficking_suspicion,
            command=command(
                care.RecordTraffickingSuspicion,
                input,
                unseal=info.context.unseal,
                client_ref_pattern=info.context.client_ref_pattern,
            ),
        )
        return await read_back(info, TRAFFICKING_SUSPICION, row.id, "record")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Police or NGO: move a suspicion your organisation recorded on (noted, "
        "referred, closed; closed is final)."
    )
    async def set_trafficking_suspicion_status(
        self,
        info: Info,
        id: Annotated[ID, strawberry.argument(description="The suspicion, by the id you hold.")],
        status: Annotated[TraffickingStatus, strawberry.argument(description="The new status.")],
    ) -> TraffickingSuspicion:
        row = await run(
            info,
            care.set_trafficking_suspicion_status,
            suspicion_id=info.context.unseal(id),
            command=command(care.SetTraffickingSuspicionStatus, {"status": status}),
        )
        return await read_back(info, TRAFFICKING_SUSPICION, row.id, "set_status")  # type: ignore[no-any-return]

    @strawberry.mutation(description="The union's helpdesk: record a request it received.")
    async def record_helpdesk_request(
        self,
        info: Info,
        input: Annotated[
            inputs.HelpdeskRequestInput,
            strawberry.argument(description="The day, topic, channel and what was asked."),
        ],
    ) -> HelpdeskRequest:
        row = await run(
            info,
            care.record_helpdesk_request,
            command=command(care.RecordHelpdeskRequest, input),
        )
        return await read_back(info, HELPDESK_REQUEST, row.id, "record")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="The union's helpdesk: mark a request answered or closed (closed is final)."
    )
    async def set_helpdesk_request_status(
        self,
        info: Info,
        id: Annotated[ID, strawberry.argument(description="The request, by the id you hold.")],
        status: Annotated[HelpdeskStatus, strawberry.argument(description="The new status.")],
    ) -> HelpdeskRequest:
        row = await run(
            info,
            care.set_helpdesk_request_status,
            request_id=info.context.unseal(id),
            command=command(care.SetHelpdeskRequestStatus, {"status": status}),
        )
        return await read_back(info, HELPDESK_REQUEST, row.id, "set_status")  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Erase a sex worker's identity by destroying the worker's data key: the "
        "worker, or a privacy officer on the worker's request. True if erased now, false if "
        "already."
    )
    async def erase_identity(
        self,
        info: Info,
        sex_worker_id: Annotated[
            ID, strawberry.argument(description="The worker, by the id you hold for the worker.")
        ],
    ) -> bool:
        ctx: Context = info.context
        return await erasure.request_erasure(
            db=ctx.hub.db,
            audit=ctx.hub.audit,
            actor=ctx.actor,
            sex_worker_id=ctx.unseal(sex_worker_id),
        )

    @strawberry.mutation(description="A sex worker, to an organisation, for one purpose.")
    async def grant_consent(
        self,
        info: Info,
        input: Annotated[
            inputs.ConsentInput,
            strawberry.argument(description="The organisation, purpose and scope."),
        ],
    ) -> Consent:
        row = await run(
            info,
            consent.grant_consent,
            command=command(consent.GrantConsent, input, unseal=info.context.unseal),
        )
        return await read_back(info, CONSENT, row.id, "grant")  # type: ignore[no-any-return]

    @strawberry.mutation(description="Takes effect on the very next request and event.")
    async def revoke_consent(
        self,
        info: Info,
        id: Annotated[
            ID, strawberry.argument(description="The consent, by the id you hold for it.")
        ],
    ) -> Consent:
        row = await run(info, consent.revoke_consent, consent_id=info.context.unseal(id))
        return await read_back(info, CONSENT, row.id, "revoke")  # type: ignore[no-any-return]


class WithheldFields(SchemaExtension):
    """Names, in `extensions.withheld`, the fields the policy withheld from this response."""

    def get_results(self) -> dict[str, Any]:
        ctx = self.execution_context.context
        loaders = getattr(ctx, "loaders", None)
        withheld = loaders.withheld if loaders is not None else None
        if not withheld:
            return {}
        return {"withheld": {t: sorted(f) for t, f in sorted(withheld.items())}}


class AuditTrail(SchemaExtension):
    """Writes the request's access-log entries, and waits for them to be durable, before
    the response leaves. If the log cannot be written, the request fails."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        ctx = self.execution_context.context
        if isinstance(ctx, Context) and ctx.actor.audit.records:
            op = self.execution_context.operation_name or (
                self.execution_context.operation_type.value
                if self.execution_context.operation_type
                else "operation"
            )
            await ctx.flush_audit(op[:200])


def normalise_error(error: GraphQLError) -> GraphQLError:
    """The error as it may leave, on every transport (HTTP and WebSocket alike): a refusal
    with its code and message; a malformed request (bad syntax, variables or argument
    values, found before anything runs) as BAD_USER_INPUT unless it carries a code (a
    limit's); anything else as INTERNAL, without its message. Idempotent."""
    extensions = dict(error.extensions or {})
    original = error.original_error
    if isinstance(original, HubError):
        error.message = original.message
        extensions["code"] = original.code.value
    elif original is not None and not of_request(error):
        error.message = "internal error"
        extensions = {"code": Code.INTERNAL.value}
    elif "code" not in extensions:
        extensions["code"] = Code.BAD_USER_INPUT.value
    error.extensions = extensions
    return error


def of_request(error: GraphQLError) -> bool:
    """Whether the error is about the request itself: found while its variables or
    arguments were coerced (graphql-core keeps the coercion's own error, or a scalar's
    ValueError, as `original_error`), not raised while a resolver ran."""
    original = error.original_error
    if isinstance(original, GraphQLError):
        return True
    return error.path is None and isinstance(original, ValueError | TypeError | OverflowError)


class HubSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Refusals are expected; log only what is not, by type, never with values.
        for error in errors:
            original = error.original_error
            unexpected = original is not None and not isinstance(original, HubError)
            if unexpected and not of_request(error):
                log.error("unexpected %s in %s", type(original).__name__, error.path)
            normalise_error(error)


def make_schema(
    *,
    max_depth: int,
    max_aliases: int,
    max_tokens: int,
    max_cost: int = 80_000,
    page_cap: int = 100,
) -> strawberry.Schema:
    # One parser, rule class and cost model for the schema's life, so parsed and validated
    # documents can be cached (a query's validity does not depend on who asks; its data
    # does, and is never cached). Introspection counts toward every limit (hub/schema/limits).
    limits = complexity_rule(max_depth, max_aliases)
    parse_document = cached_parser(max_tokens)
    cost_models: dict[int, CostModel] = {}
    return HubSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            lambda: LimitedParser(parse_document),
            lambda: AddValidationRules([limits]),
            lambda: ValidationCache(maxsize=256),
            lambda: CostLimit(cost_models, page_cap, max_cost),
            WithheldFields,
            AuditTrail,
        ],
    )

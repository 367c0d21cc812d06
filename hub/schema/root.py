"""The Query and Mutation roots (the contract of DESIGN.md) and the schema factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import Info
from strawberry.types.execution import ExecutionContext

from hub.errors import HubError
from hub.models import Organisation as OrganisationRow
from hub.resolvers import audit_views, care, consent, premises, reports, safety, sex_workers
from hub.resolvers.reads import fetch_page, select_nodes, selected
from hub.schema import inputs
from hub.schema.context import Context
from hub.schema.enums import Branch, CertificateStatus, MeasureStatus, ReportStatus
from hub.schema.indicators import IndicatorsQuery
from hub.schema.limits import complexity_rule
from hub.schema.policies import PolicyMutation, PolicyQuery
from hub.schema.subscriptions import Subscription
from hub.schema.types import (
    ORGANISATION,
    REFERRAL,
    AccessLogEntry,
    Alert,
    CareContact,
    Certificate,
    Connection,
    Consent,
    Inspection,
    Measure,
    Organisation,
    Premises,
    Principal,
    Referral,
    RentalAgreement,
    Report,
    SexWorker,
    Shift,
    connection,
)

log = logging.getLogger("hub.graphql")
ID = strawberry.ID


@strawberry.type
class Query(PolicyQuery, IndicatorsQuery):
    @strawberry.field(description="The caller, as its token says. Needs no purpose.")
    def me(self, info: Info) -> Principal:
        p = info.context.principal
        return Principal(
            subject=p.subject,
            organisation_id=ID(p.org_id),
            organisation_kind=p.org_kind,
            city=p.city,
            roles=sorted(p.roles),
            purposes=sorted(p.purposes),
            sex_worker_id=ID(p.sex_worker_id) if p.sex_worker_id else None,
        )

    @strawberry.field
    async def organisations(self, info: Info) -> list[Organisation]:
        ctx: Context = info.context
        grant = ctx.require_grant("Organisation", "read")
        pairs = await select_nodes(
            ctx,
            ORGANISATION,
            grant,
            selected(info),
            order=[OrganisationRow.name, OrganisationRow.id],
            limit=1000,
        )
        return [n for _r, n in pairs]

    @strawberry.field
    async def premises(
        self,
        info: Info,
        city: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Premises]:
        return connection(*await premises.list_premises(info, city, first, after))

    @strawberry.field
    async def shifts(
        self,
        info: Info,
        premises_id: ID | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Shift]:
        return connection(*await premises.list_shifts(info, premises_id, from_, to, first, after))

    @strawberry.field
    async def rental_agreements(
        self,
        info: Info,
        premises_id: ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[RentalAgreement]:
        return connection(*await premises.list_rental_agreements(info, premises_id, first, after))

    @strawberry.field
    async def sex_worker(self, info: Info, id: ID) -> SexWorker | None:
        return await sex_workers.get_sex_worker(info, id)  # type: ignore[no-any-return]

    @strawberry.field
    async def inspections(
        self,
        info: Info,
        city: str | None = None,
        branch: Branch | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Inspection]:
        return connection(
            *await safety.list_inspections(info, city, branch, from_, to, first, after)
        )

    @strawberry.field
    async def measures(
        self,
        info: Info,
        city: str | None = None,
        status: MeasureStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Measure]:
        return connection(*await safety.list_measures(info, city, status, first, after))

    @strawberry.field
    async def reports(
        self,
        info: Info,
        status: ReportStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Report]:
        return connection(*await reports.list_reports(info, status, first, after))

    @strawberry.field
    async def alerts(
        self, info: Info, city: str | None = None, active_only: bool = True
    ) -> list[Alert]:
        return await reports.list_alerts(info, city, active_only)  # type: ignore[no-any-return]

    @strawberry.field
    async def care_contacts(
        self,
        info: Info,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[CareContact]:
        return connection(*await care.list_care_contacts(info, from_, to, first, after))

    @strawberry.field(description="Consents you gave (a sex worker), or that were given to you.")
    async def my_consents(self, info: Info) -> list[Consent]:
        return await consent.my_consents(info)

    @strawberry.field(description="The access log, for privacy officers. Newest first.")
    async def access_log(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        subject_id: ID | None = None,
        organisation_id: ID | None = None,
    ) -> Connection[AccessLogEntry]:
        return connection(
            *await audit_views.list_access_log(info, first, after, subject_id, organisation_id)
        )

    @strawberry.field(
        description="For a sex worker: every access to her records, by whom and why. Newest first."
    )
    async def my_access_log(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AccessLogEntry]:
        return connection(*await audit_views.list_my_access_log(info, first, after))

    @strawberry.field(description="Referrals from or to the caller's NGO.")
    async def referrals(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Referral]:
        return connection(
            *await fetch_page(
                info, REFERRAL, order=[("created_at", True)], first=first, after=after
            )
        )


@strawberry.type
class Mutation(PolicyMutation):
    @strawberry.mutation(description="Police, at identity validation.")
    async def register_sex_worker(
        self, info: Info, input: inputs.RegisterSexWorkerInput
    ) -> SexWorker:
        return await sex_workers.register_sex_worker(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Operator, for its own premises.")
    async def record_rental_agreement(
        self, info: Info, input: inputs.RentalAgreementInput
    ) -> RentalAgreement:
        return await premises.record_rental_agreement(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="The worker herself.")
    async def confirm_rental_agreement(self, info: Info, id: ID) -> RentalAgreement:
        return await premises.confirm_rental_agreement(info, id)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Operator, for its own premises.")
    async def register_shift(self, info: Info, input: inputs.ShiftInput) -> Shift:
        return await premises.register_shift(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation
    async def cancel_shift(self, info: Info, id: ID) -> Shift:
        return await premises.cancel_shift(info, id)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Police, on site.")
    async def validate_shift(self, info: Info, id: ID, input: inputs.ValidationInput) -> Shift:
        return await premises.validate_shift(info, id, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Police.")
    async def record_inspection(self, info: Info, input: inputs.InspectionInput) -> Inspection:
        return await safety.record_inspection(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="City prostitution officer.")
    async def set_certificate_status(
        self,
        info: Info,
        premises_id: ID,
        status: CertificateStatus,
        reason: str,
        valid_until: date | None = None,
    ) -> Certificate:
        return await premises.set_certificate_status(  # type: ignore[no-any-return]
            info, premises_id, status, reason, valid_until
        )

    @strawberry.mutation(description="City administrative enforcement.")
    async def open_measure(self, info: Info, input: inputs.MeasureInput) -> Measure:
        return await safety.open_measure(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation
    async def advance_measure(
        self, info: Info, id: ID, status: MeasureStatus, note: str | None = None
    ) -> Measure:
        return await safety.advance_measure(info, id, status, note)  # type: ignore[no-any-return]

    @strawberry.mutation(description="A sex worker, anonymously if she wishes.")
    async def file_report(self, info: Info, input: inputs.ReportInput) -> Report:
        return await reports.file_report(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation
    async def reply_to_report(self, info: Info, id: ID, text: str) -> Report:
        return await reports.reply_to_report(info, id, text)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Police or NGO.")
    async def issue_alert(self, info: Info, input: inputs.AlertInput) -> Alert:
        return await reports.issue_alert(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="NGO.")
    async def record_care_contact(self, info: Info, input: inputs.CareContactInput) -> CareContact:
        return await care.record_care_contact(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="NGO, with the client's consent.")
    async def refer_client(self, info: Info, input: inputs.ReferralInput) -> Referral:
        return await care.refer_client(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation(
        description="Erase a sex worker's identity by destroying her data key: the worker "
        "herself, or a privacy officer on her request. True if erased now, false if already."
    )
    async def erase_identity(self, info: Info, sex_worker_id: ID) -> bool:
        return await sex_workers.erase(info, sex_worker_id)

    @strawberry.mutation(description="A sex worker, to an organisation, for one purpose.")
    async def grant_consent(self, info: Info, input: inputs.ConsentInput) -> Consent:
        return await consent.grant_consent(info, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Takes effect on the very next request and event.")
    async def revoke_consent(self, info: Info, id: ID) -> Consent:
        return await consent.revoke_consent(info, id)  # type: ignore[no-any-return]


class WithheldFields(SchemaExtension):
    """Names, in `extensions.withheld`, the fields the policy withheld from this response."""

    def get_results(self) -> dict[str, Any]:
        ctx = self.execution_context.context
        withheld = getattr(ctx, "withheld", None)
        if not withheld:
            return {}
        return {"withheld": {t: sorted(f) for t, f in sorted(withheld.items())}}


class AuditTrail(SchemaExtension):
    """Writes the request's access-log entries, and waits for them to be durable, before
    the response leaves. If the log cannot be written, the request fails."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        ctx = self.execution_context.context
        if isinstance(ctx, Context) and ctx.audit:
            op = self.execution_context.operation_name or (
                self.execution_context.operation_type.value
                if self.execution_context.operation_type
                else "operation"
            )
            await ctx.flush_audit(op[:200])


class HubSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Refusals are expected; log only what is not, by type, never with values.
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, HubError):
                log.error("unexpected %s in %s", type(original).__name__, error.path)


def make_schema(*, max_depth: int, max_aliases: int, max_tokens: int) -> strawberry.Schema:
    # One rule class for the schema's life, so parsed and validated documents can be cached
    # (a query's validity does not depend on who asks; its data does, and is never cached).
    limits = complexity_rule(max_depth, max_aliases)
    return HubSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: AddValidationRules([limits]),
            lambda: ValidationCache(maxsize=256),
            WithheldFields,
            AuditTrail,
        ],
    )

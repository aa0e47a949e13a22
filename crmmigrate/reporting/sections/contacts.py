"""Contacts and contact roles: the share of opportunities with at least one contact role and
with a primary one (blank in most migrated CRMs, and it decides whether marketing attribution
and pipeline by contact can work at all); contacts that belong to no account."""

from __future__ import annotations

import sqlalchemy as sa

from crmmigrate.reporting.model import Section
from crmmigrate.reporting.sections.base import (
    Context,
    biggest_first,
    count_if,
    finding,
    provenance,
    quarantined,
    set_metric,
    share,
)

TITLE = "Contacts and contact roles"


def build(ctx: Context) -> Section:
    section = Section(key="contacts", title=TITLE)
    opportunity, role, contact = ctx.t("opportunity"), ctx.t("opportunity_contact_role"), ctx.t("contact")
    has_role = sa.exists().where(role.c.opportunity_id == opportunity.c.id)
    has_primary = sa.exists().where(role.c.opportunity_id == opportunity.c.id, role.c.is_primary.is_(True))
    stage = ctx.exact(opportunity.c.stage)
    statement = (sa.select(stage.label("stage"), sa.func.count().label("opportunities"),
                           count_if(has_role).label("with_role"), count_if(has_primary).label("with_primary"))
                 .group_by(stage))
    # The totals are the sums of the stages' rows: each EXISTS is probed once per opportunity,
    # not again by a count of its own (on SQLite each pass is an index search per opportunity).
    coverage = ctx.rows(statement)
    section.tables.append(ctx.table("role_coverage_by_stage", "Contact-role coverage by stage", rows=coverage,
                                    columns=[c.name for c in statement.selected_columns],
                                    order=biggest_first(1), chart="bar", x="stage",
                                    y=["opportunities", "with_role", "with_primary"]))
    name = ctx.exact(role.c.role)
    statement = (sa.select(name.label("role"), sa.func.count().label("roles"),
                           count_if(role.c.is_primary.is_(True)).label("primary")).group_by(name))
    section.tables.append(ctx.table("roles", "Contact roles by role", statement, order=biggest_first(1),
                                    chart="bar", x="role", y=["roles"]))

    total = sum(row[1] for row in coverage)
    without = total - sum(row[2] for row in coverage)
    examples = ctx.examples(sa.select(*provenance(opportunity), opportunity.c.name, opportunity.c.stage,
                                      opportunity.c.owner).where(~has_role).order_by(opportunity.c.id))
    section.findings.append(finding(
        "contacts.opportunities_without_role", "Opportunities with no contact role", without, total,
        examples=examples, table="role_coverage_by_stage",
        hint="Map the legacy deal's contact (or its account's main contact) to a contact role: pipeline by "
             "contact and marketing attribution need it."))
    no_primary = total - sum(row[3] for row in coverage)
    examples = ctx.examples(sa.select(*provenance(opportunity), opportunity.c.name, opportunity.c.stage)
                            .where(has_role, ~has_primary).order_by(opportunity.c.id))
    section.findings.append(finding(
        "contacts.opportunities_without_primary", "Opportunities with no primary contact role", no_primary, total,
        severity="info", examples=examples, table="role_coverage_by_stage",
        hint="Examples are opportunities that have roles, none of them primary: mark one."))
    set_metric(section, "opportunity.contact_role_coverage", share(total - without, total))
    set_metric(section, "opportunity.primary_role_coverage", share(total - no_primary, total))
    _without_account(ctx, section, contact)
    return section


def _without_account(ctx: Context, section: Section, contact: sa.Table) -> None:
    orphan = contact.c.account_id.is_(None)
    count, total = ctx.counts(contact, orphan, sa.true())
    given = quarantined(contact, "account_id")
    examples = ctx.examples(sa.select(*provenance(contact), contact.c.first_name, contact.c.last_name,
                                      contact.c.email, sa.case((given, True), else_=False).label("account_given"))
                            .where(orphan).order_by(contact.c.id))
    section.findings.append(finding(
        "contacts.without_account", "Contacts that belong to no account", count, total, examples=examples,
        hint="account_given: the old system named an account that was not loaded (kept in quarantine); "
             "the others never had one."))
    set_metric(section, "contact.without_account_share", share(count, total))

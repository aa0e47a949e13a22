"""Accounts: by owner, industry and country; the hierarchy (how deep, parents missing,
cycles); accounts nothing hangs from (no contact, no opportunity).

The hierarchy is walked with recursive CTEs, which SQLite, PostgreSQL and MariaDB (10.2+)
all run. Depth goes down from the roots (no parent, or a parent that is not there): a tree
reached from a root cannot loop, so that walk ends by itself. Whatever it does not reach is in
a cycle or hangs below one; only those few are walked up, at most as many steps as there are
of them, and an account whose walk comes back to itself is in a cycle.
"""

from __future__ import annotations

import sqlalchemy as sa

from crmmigrate.reporting.model import Section
from crmmigrate.reporting.sections.base import (
    Context,
    biggest_first,
    finding,
    in_order,
    provenance,
    quarantined,
    quarantined_value,
    set_metric,
    share,
)

TITLE = "Accounts"


def build(ctx: Context) -> Section:
    section = Section(key="accounts", title=TITLE)
    account = ctx.t("account")
    total = ctx.count(account)
    for key, title, column, name in (("by_owner", "Accounts by owner", account.c.owner, "owner"),
                                     ("by_industry", "Accounts by industry", account.c.industry, "industry"),
                                     ("by_country", "Accounts by country", account.c.billing_country, "country")):
        column = ctx.exact(column)
        statement = sa.select(column.label(name), sa.func.count().label("accounts")).group_by(column)
        section.tables.append(ctx.table(key, title, statement, order=biggest_first(1), chart="bar", x=name,
                                        y=["accounts"]))
    _hierarchy(ctx, section, total)
    _missing_parents(ctx, section, total)
    _unused(ctx, section, total)
    return section


def _tree(account: sa.Table) -> sa.CTE:
    """Every account reached from a root, with its depth (a root is 1)."""
    parent = account.alias("parent")
    is_root = sa.or_(account.c.parent_id.is_(None),
                     ~sa.exists().where(parent.c.id == account.c.parent_id))
    tree = sa.select(account.c.id, sa.literal_column("1").label("depth")).where(is_root).cte("tree", recursive=True)
    child = account.alias("child")
    return tree.union_all(sa.select(child.c.id, tree.c.depth + 1).where(child.c.parent_id == tree.c.id))


def _hierarchy(ctx: Context, section: Section, total: int) -> None:
    account = ctx.t("account")
    tree = _tree(account)
    rows = ctx.rows(sa.select(tree.c.depth, sa.func.count().label("accounts")).group_by(tree.c.depth))
    reached = sum(count for _, count in rows)
    unreached = total - reached
    if unreached:
        rows.append([None, unreached])
    section.tables.append(ctx.table(
        "hierarchy_depth", "Accounts by depth in their hierarchy", rows=rows, columns=["depth", "accounts"],
        order=in_order(0), chart="bar", x="depth", y=["accounts"],
        note="depth 1: an account with no parent; no depth: in a parent cycle, or below one"))
    depths = [depth for depth, _ in rows if depth is not None]
    set_metric(section, "account.hierarchy_depth", max(depths) if depths else None)
    in_cycle = _cycle_members(ctx, tree, unreached) if unreached else None
    count = 0 if in_cycle is None else ctx.count(account, account.c.id.in_(in_cycle))
    examples = [] if in_cycle is None else ctx.examples(
        sa.select(*provenance(account), account.c.name, account.c.parent_id.label("parent_id"))
        .where(account.c.id.in_(in_cycle)).order_by(account.c.id))
    section.findings.append(finding(
        "accounts.hierarchy_cycles", "Accounts in a parent cycle (their own ancestor)", count, total,
        severity="error", examples=examples, table="hierarchy_depth",
        hint="Break each cycle by clearing one parent: every roll-up by parent loops or double counts."))
    set_metric(section, "account.hierarchy_cycles", count if total else None)


def _cycle_members(ctx: Context, tree: sa.CTE, unreached: int) -> sa.Select:
    """The ids of accounts that are their own ancestor, as a subquery: each account the tree
    did not reach walks up at most `unreached` steps, staying among the unreached."""
    account = ctx.t("account")
    walk = (sa.select(account.c.id.label("start"), account.c.parent_id.label("at"),
                      sa.literal_column("1").label("steps"))
            .where(account.c.parent_id.is_not(None), ~sa.exists().where(tree.c.id == account.c.id))
            .cte("walk", recursive=True))
    up = account.alias("up")
    walk = walk.union_all(sa.select(walk.c.start, up.c.parent_id, walk.c.steps + 1)
                          .where(up.c.id == walk.c.at, up.c.parent_id.is_not(None), walk.c.at != walk.c.start,
                                 walk.c.steps < unreached))
    return sa.select(walk.c.start).where(walk.c.at == walk.c.start)


def _missing_parents(ctx: Context, section: Section, total: int) -> None:
    account = ctx.t("account")
    parent = account.alias("parent")
    dangling = sa.and_(account.c.parent_id.is_not(None), ~sa.exists().where(parent.c.id == account.c.parent_id))
    lost = sa.and_(account.c.parent_id.is_(None), quarantined(account, "parent_id"))
    missing = sa.or_(dangling, lost)
    count = ctx.count(account, missing)
    examples = ctx.examples(sa.select(*provenance(account), account.c.name, account.c.parent_id,
                                      account.c.quarantine).where(missing).order_by(account.c.id))
    for example in examples:
        kept = quarantined_value(example.pop("quarantine"), "parent_id")
        example["parent"] = kept if example["parent_id"] is None else f"target id {example['parent_id']}"
        del example["parent_id"]
    section.findings.append(finding(
        "accounts.parent_missing", "Accounts whose parent was given but is not in the target", count, total,
        examples=examples, table="hierarchy_depth",
        hint="The legacy parent id was not loaded (rejected, filtered or never exported), or the row it "
             "points at is gone: load the parent, or fix the id in the old system."))
    set_metric(section, "account.parent_missing_share", share(count, total))


def _unused(ctx: Context, section: Section, total: int) -> None:
    account, contact, opportunity = ctx.t("account"), ctx.t("contact"), ctx.t("opportunity")
    unused = sa.and_(~sa.exists().where(contact.c.account_id == account.c.id),
                     ~sa.exists().where(opportunity.c.account_id == account.c.id))
    count = ctx.count(account, unused)
    examples = ctx.examples(sa.select(*provenance(account), account.c.name, account.c.owner).where(unused)
                            .order_by(account.c.id))
    section.findings.append(finding(
        "accounts.unused", "Accounts with no contact and no opportunity", count, total, severity="info",
        examples=examples, table="by_owner",
        hint="Often prospects that never went anywhere, or duplicates whose contacts hang from another record."))
    set_metric(section, "account.unused_share", share(count, total))

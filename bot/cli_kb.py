"""The keepers' commands of `centerbot`: the knowledge base (`kb check/import/export/reload/history/
revert/unanswered/referrals`) and the holiday calendar (`calendar import/show`)."""
from __future__ import annotations

import os
from pathlib import Path

import click

from bot.cli_common import cli_settings, cli_store
from bot.config import Settings
from knowledge.loader import KnowledgeError, load

# -- the knowledge base -----------------------------------------------------------------------
@click.group()
def kb() -> None:
    """The matter knowledge base."""


@kb.command("check")
@click.option("--dir", "directory", help="knowledge directory (default: CENTERBOT_KNOWLEDGE_DIR or the sample)")
@click.option("--on", "on", help="look 90 days ahead from this day, YYYY-MM-DD (default: today)")
def kb_check(directory: str | None, on: str | None) -> None:
    """Validate the knowledge base and print every problem at once."""
    root = Path(directory) if directory else cli_settings().knowledge_dir
    try:
        base = load(root)
    except KnowledgeError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s) in {root}") from None
    click.echo(f"ok: {len(base.matters)} matters in {len(base.categories)} categories, "
               f"{len(base.center.units)} referral units, menu keys {', '.join(base.menu.keys())}")
    import datetime as dt

    try:
        day = dt.date.fromisoformat(on) if on else None
    except ValueError:
        raise click.BadParameter(f"'{on}' is not a date like 2026-12-01") from None
    for warning in _calendar_warnings(base, day):
        click.echo(f"warning: {warning}", err=True)


def _calendar_warnings(base, day=None) -> list[str]:
    """Years the next 90 days reach without an official arrangement (packages, center.yaml, imported)."""
    from handlers.clock import Clock
    from knowledge.calendar import WorkCalendar

    source, note = None, ""
    try:
        from bot.store.calendar import CalendarStore
        from bot.embedded_redis import SOCKET, _alive

        settings = cli_settings()
        if settings.redis_url or _alive(settings.data_dir / SOCKET):  # never start a store just to check
            store = cli_store(settings)
            store.ping()
            source = CalendarStore(store)
        else:
            note = "（机器人未运行，未核对已导入的通知）"
    except Exception as exc:  # the check of the files needs no store; say what was not looked at
        note = f"（未能读取已导入的通知：{type(exc).__name__}）"
    missing = WorkCalendar(base.center, source).unknown_years(day or Clock().today(), 90)
    return [f"未来90天涉及{year}年，但{year}年的放假调休安排尚未导入：目前只按法定节假日休息，"
            f"请在国务院办公厅公布通知后运行 centerbot calendar import 通知.txt{note}" for year in missing]


def _kstore(settings: Settings):
    from bot import kb_live

    return kb_live.stores(settings, cli_store(settings).r)


def _embed_ahead(settings: Settings, kstore, shared, writes) -> None:
    """Embed the changed base with every core before publishing it, telling how it goes."""
    from bot import kb_live
    from knowledge import semantic

    def progress(done: int, total: int, elapsed: float) -> None:
        if done == 0:
            click.echo(f"embedding {total} new passages for the semantic channel (once; the running bot reuses them)")
        else:
            click.echo(f"  {done}/{total} in {elapsed:.0f} s; about {elapsed / done * (total - done):.0f} s left")

    semantic.embed_with_every_core()
    kb_live.embed_ahead(settings, kstore, shared, writes, progress)


def _who() -> str:
    return f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'admin'}"


def _show_problems(problems, limit: int = 40) -> None:
    """Errors first, then warnings; many warnings of one kind are counted, not all printed."""
    from collections import Counter

    errors = [p for p in problems if p.level == "error"]
    warnings = [p for p in problems if p.level == "warning"]
    for p in errors[:limit]:
        click.echo(str(p), err=True)
    if len(errors) > limit:
        click.echo(f"... and {len(errors) - limit} more errors", err=True)
    kinds = Counter(p.message.split(":")[0] for p in warnings)
    shown = 0
    for p in warnings:
        if kinds[p.message.split(":")[0]] <= 3 or p.row is None:
            if shown < limit:
                click.echo(str(p))
            shown += 1
    for kind, n in kinds.items():
        if n > 3:
            click.echo(f"warning: {n} rows: {kind}")


@kb.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="print the summary and the problems; write nothing")
@click.option("--replace", is_flag=True, help="retire the matters absent from the file (they are listed first)")
@click.option("--window", help="window id for new matters without a 受理窗口 column (default: the first window)")
def kb_import(file: str, check: bool, replace: bool, window: str | None) -> None:
    """Import a 事项清单 (.xlsx or .csv): merge by 事项编码 or name; the running bot reloads within seconds."""
    import time as _time

    from bot import kb_live
    from knowledge import importer

    started = _time.monotonic()
    settings = cli_settings()
    kstore, _shared = _kstore(settings)
    try:
        _version, base = kb_live.load_current(settings, kstore, allow_empty=True)
    except KnowledgeError as exc:
        raise click.ClickException("the current knowledge base is invalid:\n  " + "\n  ".join(exc.problems)) from None
    if window and base.center.window(window) is None:
        raise click.ClickException(f"no window '{window}' in center.yaml")
    reading = importer.read(file, base.center)
    for sheet, used in reading.used.items():
        click.echo(f"sheet {sheet}: columns used: {'、'.join(used)}")
        if reading.unused.get(sheet):
            click.echo(f"sheet {sheet}: columns not used: {'、'.join(reading.unused[sheet])}")
    plan = importer.merge(reading, base.matters, base.center, replace=replace, default_window=window)
    _show_problems(plan.problems)
    click.echo(f"{len(reading.rows)} rows: {len(plan.added)} new, {len(plan.updated)} changed, "
               f"{plan.unchanged} unchanged" + (f", {len(plan.retired)} to retire" if replace else ""))
    for m in plan.retired:
        click.echo(f"  retire: {m.id} {m.name}")
    errors = [p for p in plan.problems if p.level == "error"]
    if errors:
        raise click.ClickException(f"{len(errors)} error(s): nothing was imported")
    if check:
        click.echo("--check: nothing was written")
        return
    # a retired matter is a tombstone in the overlay (it hides a YAML matter of that id too); revert
    # brings it back
    writes = {mid: (m.model_dump(mode="json") if m is not None else None) for mid, m in plan.writes.items()}
    if not writes:
        click.echo("nothing to change")
        return
    _embed_ahead(settings, kstore, _shared, writes)
    try:
        change = kstore.commit(writes, _who(), f"import {Path(file).name}: {len(plan.added)} new, "
                               f"{len(plan.updated)} changed, {len(plan.retired)} retired",
                               validate=kb_live.validator(settings))
    except KnowledgeError as exc:
        for problem in exc.problems[:40]:
            click.echo(problem, err=True)
        raise click.ClickException("the imported base does not validate: nothing was imported") from None
    click.echo(f"change {change.n} saved in {_time.monotonic() - started:.1f} s; the running bot reloads "
               f"within seconds (revert with `centerbot kb revert {change.n}`)")


@kb.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
def kb_export(file: str) -> None:
    """Write every matter of the base in use (YAML and center-made) to an .xlsx 事项清单."""
    from bot import kb_live
    from knowledge import importer

    settings = cli_settings()
    kstore, _shared = _kstore(settings)
    try:
        _version, base = kb_live.load_current(settings, kstore)
    except KnowledgeError as exc:
        raise click.ClickException("the current knowledge base is invalid:\n  " + "\n  ".join(exc.problems)) from None
    importer.export(base.matters.values(), file)
    click.echo(f"{len(base.matters)} matters written to {file}")


@kb.command("reload")
def kb_reload() -> None:
    """After editing the YAML directory: validate it with the center-made matters and, if it is valid,
    make every running process reload it (an invalid base is refused; the old one keeps answering)."""
    from bot import kb_live

    settings = cli_settings()
    kstore, _shared = _kstore(settings)
    try:
        _version, base = kb_live.load_current(settings, kstore)
    except KnowledgeError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s): not reloaded; the running base keeps "
                                   f"answering") from None
    _embed_ahead(settings, kstore, _shared, {})
    change = kstore.bump(_who(), f"reload of {settings.knowledge_dir}")
    click.echo(f"ok: {len(base.matters)} matters; version {change.n}: the running bot reloads within seconds")


@kb.command("history")
@click.option("--limit", default=20, show_default=True)
def kb_history(limit: int) -> None:
    """The latest changes of the base: number, when, who, what."""
    import datetime as _dt

    from handlers.clock import CST

    settings = cli_settings()
    kstore, _shared = _kstore(settings)
    for c in kstore.changes(limit):
        when = _dt.datetime.fromtimestamp(c.when, CST).strftime("%Y-%m-%d %H:%M")  # the center's time
        click.echo(f"{c.n:>5}  {when}  {c.who:<16} {c.what}" + (f"  ({len(c.ids)} matters)" if c.ids else ""))


@kb.command("revert")
@click.argument("number", type=int)
def kb_revert(number: int) -> None:
    """Undo one change (as a new change), if its matters did not change again since."""
    from bot import kb_live
    from bot.store.knowledge import Conflict

    settings = cli_settings()
    kstore, _shared = _kstore(settings)
    try:
        change = kstore.revert(number, _who(), validate=kb_live.validator(settings))
    except KeyError:
        raise click.ClickException(f"no change {number} (see `centerbot kb history`)") from None
    except Conflict as exc:
        raise click.ClickException(f"{exc}: {', '.join(exc.ids)}") from None
    except KnowledgeError as exc:
        raise click.ClickException("reverting would make the base invalid:\n  " + "\n  ".join(exc.problems)) from None
    click.echo(f"change {number} reverted as change {change.n}")


@kb.command("unanswered")
@click.option("--limit", default=50, show_default=True)
def kb_unanswered(limit: int) -> None:
    """Questions the knowledge base could not answer, most asked first."""
    rows = cli_store(cli_settings()).unanswered(limit)
    if not rows:
        click.echo("no unanswered questions")
    for question, count in rows:
        click.echo(f"{count:5d}  {question}")


@kb.command("referrals")
@click.option("--since", required=True, help="first day, YYYY-MM-DD")
@click.option("--until", help="last day, YYYY-MM-DD (default: today)")
def kb_referrals(since: str, until: str | None) -> None:
    """The referral and refusal ledger (否定报备): questions sent to another unit or declined."""
    import datetime as dt

    from handlers.clock import CST

    def day_start(text: str) -> float:
        try:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0), CST).timestamp()
        except ValueError:
            raise click.BadParameter(f"'{text}' is not a date like 2026-11-01") from None

    end = day_start(until) + 86400 if until else None
    settings = cli_settings()
    units = {u.id: u.name for u in load(settings.knowledge_dir).center.units}
    rows = cli_store(settings).referrals(day_start(since), end)
    click.echo(f"{len(rows)} referral(s) since {since}")
    for row in rows:
        when = dt.datetime.fromtimestamp(row["time"], CST).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{when}  {row['kind']}  {units.get(row['unit'], row['unit'])}  {row['reason']}  "
                   f"「{row['question']}」")


# -- the calendar ---------------------------------------------------------------------------------
@click.group()
def calendar() -> None:
    """The holiday calendar: the State Council's yearly notice, imported; what is known for which year."""


def _print_table(seen) -> None:
    weekdays = "一二三四五六日"
    click.echo(f"{seen.year}年放假调休安排（{len(seen.notice.holidays)}天放假，{len(seen.notice.workdays)}天调休上班）：")
    for day, what, name in seen.notice.table():
        click.echo(f"  {day.isoformat()}  星期{weekdays[day.weekday()]}  {what}  {name}")
    for number, sentence in seen.notice.unread:
        click.echo(f"  未读入（第{number}行，不影响放假安排）：{sentence}")
    if seen.changed:
        click.echo(f"与现行日历相比，{len(seen.changed)}天的上班/休息发生变化："
                   + "、".join(d.isoformat() for d in seen.changed[:20]) + ("……" if len(seen.changed) > 20 else ""))
        click.echo("保存后，这些天的预约将被取消并通知预约人，办件时限随之调整。")


@calendar.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--yes", is_flag=True, help="save without asking (and replace a year already imported)")
@click.option("--by", "by", default="CLI", show_default=True, help="who imports it, for the record")
def calendar_import(file, yes: bool, by: str) -> None:
    """Read the State Council's notice (国务院办公厅关于YYYY年部分节假日安排的通知) from FILE ("-" for
    standard input), show the days it gives, and on confirmation store them as that year's calendar.
    The running web workers and the worker take it up within seconds; bookings and due dates follow."""
    from bot.app import build_context
    from bot.calendar_import import preview, save
    from knowledge.holiday_notice import NoticeError

    ctx = build_context(cli_settings())
    try:
        seen = preview(ctx, file.read())
    except NoticeError as exc:
        raise click.ClickException(f"{exc}（未保存任何内容）") from None
    _print_table(seen)
    if seen.replaces and not yes and not click.confirm(f"{seen.year}年的安排已经导入过，要替换吗？", default=False):
        raise click.ClickException("未保存：原有安排保持不变")
    if not yes and not click.confirm(f"保存为{seen.year}年的日历？", default=True):
        raise click.ClickException("未保存")
    version = save(ctx, seen, by)
    click.echo(f"已保存{seen.year}年的放假调休安排（日历版本 {version}）。")


@calendar.command("show")
@click.option("--days", default=90, show_default=True, help="how far ahead to look for a missing year")
def calendar_show(days: int) -> None:
    """The years imported, and any year the next DAYS reach with no official arrangement."""
    from bot.app import build_context
    from bot.calendar_import import missing_years
    from bot.store.calendar import CalendarStore

    ctx = build_context(cli_settings())
    for year in CalendarStore(ctx.store).years():
        data = CalendarStore(ctx.store).year(year) or {}
        click.echo(f"{year}: imported by {data.get('by', '?')}, {len(data.get('holidays', {}))} days off, "
                   f"{len(data.get('workdays', {}))} make-up working days")
    for year in missing_years(ctx, days):
        click.echo(f"warning: {year}年的放假调休安排尚未导入（centerbot calendar import 通知.txt）", err=True)

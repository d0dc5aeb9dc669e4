"""The `centerbot` command: run the bot, run the worker, talk to it, push the menu, check the knowledge base."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import click
import requests
import yaml

from bot.config import ConfigError, Settings
from knowledge.loader import KnowledgeError, load
from knowledge.schema import Menu


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _store(settings: Settings):
    from bot.app import open_store
    from handlers.clock import Clock

    return open_store(settings, Clock())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """centerbot: the WeChat assistant of a party-mass / citizen service center."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- serving ---------------------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=lambda: int(os.environ.get("WEB_CONCURRENCY", 2)), show_default="2")
def run(host: str, port: int, workers: int) -> None:
    """Serve the bot with gunicorn plus the worker (embedded Redis unless REDIS_URL is set); a child that
    dies is restarted with a growing delay, the others go on."""
    from bot.embedded_redis import ensure_server, stop_server
    from bot.supervisor import Supervisor

    settings = _settings()
    try:
        load(settings.knowledge_dir)
    except KnowledgeError as exc:
        raise click.ClickException(str(exc)) from None
    env = dict(os.environ)
    started = False
    if not settings.redis_url:
        env["REDIS_URL"], started = ensure_server(settings.data_dir)
    click.echo(settings.describe())
    supervisor = Supervisor({
        "gunicorn": [sys.executable, "-m", "gunicorn", "--config", "python:bot.gunicorn_conf", "--bind",
                     f"{host}:{port}", "--workers", str(workers), "--timeout", "30", "bot:create_app()"],
        "worker": [sys.executable, "-m", "bot.cli", "worker"],
    }, env)
    supervisor.start()
    url = f"http://{host}:{port}"
    click.echo(f"""
centerbot is serving on {url}  (webhook: {url}/wechat, health: {url}/healthz)
Talk to it from another terminal:
  .venv/bin/centerbot chat                 # a chat that plays the WeChat server
  .venv/bin/centerbot say "党费怎么交"       # one exchange
Point a WeChat test account's server URL at {url}/wechat with token "{settings.token}".
Press Ctrl-C to stop.""")

    def watch_redis() -> None:
        """The embedded Redis runs on its own (daemonized): start it again if it stopped."""
        nonlocal started
        if not settings.redis_url and ensure_server(settings.data_dir)[1]:
            started = True
            logging.getLogger("centerbot.run").warning("the embedded Redis had stopped; started it again")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        supervisor.run(stop, watch=watch_redis)
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop()
        if started:
            stop_server(settings.data_dir)
            click.echo("stopped the embedded Redis (data kept in %s)" % settings.data_dir)


@main.command()
def embed() -> None:
    """Embed the knowledge base into the data directory's cache (gunicorn runs this before its workers
    start; the workers and the worker then read the vectors instead of each computing them)."""
    from knowledge import semantic
    from knowledge.matcher import Matcher

    settings = _settings()
    try:
        kb = load(settings.knowledge_dir)
    except KnowledgeError as exc:
        raise click.ClickException(str(exc)) from None
    if not semantic.available():
        click.echo("the semantic channel is off or not installed: nothing to embed")
        return
    started = time.monotonic()
    Matcher(kb, cache_dir=settings.data_dir / "cache")
    click.echo(f"the knowledge base is in the embedding cache ({time.monotonic() - started:.1f} s)")


@main.command()
def worker() -> None:
    """Run the background worker: reminders and escalations on schedule, and the outbox."""
    from bot.wechat_api import make_client
    from bot.worker import OutboxSender

    from bot.app import build_context

    from bot.kb_live import LiveBase

    settings = _settings()
    holder = {"centerbot": build_context(settings)}
    LiveBase(settings, holder).start()  # the worker follows the base's changes like the web workers
    ctx = holder["centerbot"]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo("worker started; " + settings.describe().splitlines()[0])
    OutboxSender(ctx.store, make_client(settings, ctx.store), lambda: holder["centerbot"].kb.center,
                 lease=settings.worker_lease).run_forever(stop, ctx=lambda: holder["centerbot"])


# -- talking to a running bot -----------------------------------------------------------------
def _peer(settings: Settings):
    from bot.peer import WeChatPeer

    return WeChatPeer(settings.token, settings.encoding_aes_key, settings.app_id)


def _exchange(url: str, peer, user: str, text: str, **kw) -> str:
    kind = kw.pop("kind", "text")
    args, body = peer.sign(peer.xml(user, kind, text, **kw))
    try:
        res = requests.post(url.rstrip("/") + "/wechat", params=args, data=body, timeout=10,
                            headers={"Content-Type": "text/xml"})
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach the bot at {url}: {exc}") from None
    if res.status_code != 200:
        raise click.ClickException(f"the bot answered HTTP {res.status_code}: {res.text[:200]}")
    return peer.read_reply(res.text).get("Content", "")


def _show_outbox(settings: Settings, user: str, shown: set[str]) -> None:
    try:
        items = _store(settings).outbox_for_user(user)
    except Exception as exc:  # the store may be elsewhere; the chat still works without it
        click.echo(f"(outbox not readable: {type(exc).__name__})")
        return
    for item in items:
        if item.id in shown:
            continue
        shown.add(item.id)
        click.echo(f"\n[客服消息 · {item.status}]\n{item.payload.get('content', item.payload)}")


@main.command()
@click.argument("text")
@click.option("--user", default="o_cli_user", show_default=True, help="the openid to speak as")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
def say(text: str, user: str, url: str) -> None:
    """Send one text message to a running bot and print the reply (and what the outbox queued)."""
    settings = _settings()
    click.echo(_exchange(url, _peer(settings), user, text) or "(no passive reply)")
    _show_outbox(settings, user, set())


@main.command()
@click.option("--user", default="o_cli_user", show_default=True)
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
def chat(user: str, url: str) -> None:
    """A terminal chat that plays the WeChat server. Commands: /subscribe /unsubscribe /click KEY /quit."""
    settings = _settings()
    peer = _peer(settings)
    shown: set[str] = {item.id for item in _safe_outbox(settings, user)}
    click.echo(_exchange(url, peer, user, "", kind="event", event="subscribe"))
    while True:
        try:
            line = input("\n您> ").strip()
        except (EOFError, KeyboardInterrupt):
            click.echo("再见！")
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line.startswith("/click "):
            reply = _exchange(url, peer, user, "", kind="event", event="CLICK", key=line.split(None, 1)[1])
        elif line in ("/subscribe", "/unsubscribe"):
            reply = _exchange(url, peer, user, "", kind="event", event=line[1:])
        else:
            reply = _exchange(url, peer, user, line)
        click.echo(f"\n中心> {reply or '(无被动回复)'}")
        time.sleep(0.2)
        _show_outbox(settings, user, shown)


def _safe_outbox(settings: Settings, user: str):
    try:
        return _store(settings).outbox_for_user(user)
    except Exception:
        return []


# -- the custom menu --------------------------------------------------------------------------
@main.group()
def menu() -> None:
    """The custom menu of the Official Account."""


def _load_menu(path: str | None, settings: Settings) -> Menu:
    from handlers.common import CLICKS

    file = Path(path) if path else settings.knowledge_dir / "menu.yaml"
    try:
        m = Menu.model_validate(yaml.safe_load(file.read_text(encoding="utf-8")))
    except Exception as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    unhandled = [k for k in m.keys() if k not in CLICKS]
    if unhandled:
        raise click.ClickException(f"{file}: keys the bot does not handle: {', '.join(unhandled)}")
    return m


def menu_payload(m: Menu) -> dict:
    """The JSON body of menu/create."""
    def button(b) -> dict:
        if b.sub:
            return {"name": b.name, "sub_button": [button(s) for s in b.sub]}
        if b.key:
            return {"type": "click", "name": b.name, "key": b.key}
        return {"type": "view", "name": b.name, "url": b.url}

    return {"button": [button(b) for b in m.buttons]}


@menu.command("push")
@click.option("--file", "path", help="menu YAML (default: menu.yaml of the knowledge base)")
def menu_push(path: str | None) -> None:
    """Create the custom menu through the WeChat API."""
    from bot.wechat_api import make_client

    settings = _settings()
    m = _load_menu(path, settings)
    client = make_client(settings, _store(settings))
    if client is None:
        raise click.ClickException("WECHAT_APP_ID and WECHAT_APP_SECRET are needed to push the menu")
    client.menu.create(menu_payload(m))
    click.echo(f"menu created: {len(m.buttons)} buttons, keys {', '.join(m.keys())}")


@menu.command("show")
@click.option("--file", "path")
def menu_show(path: str | None) -> None:
    """Validate the menu and print the JSON that `push` would send."""
    import json

    click.echo(json.dumps(menu_payload(_load_menu(path, _settings())), ensure_ascii=False, indent=2))


# -- the knowledge base -----------------------------------------------------------------------
@main.group()
def kb() -> None:
    """The matter knowledge base."""


@kb.command("check")
@click.option("--dir", "directory", help="knowledge directory (default: CENTERBOT_KNOWLEDGE_DIR or the sample)")
@click.option("--on", "on", help="look 90 days ahead from this day, YYYY-MM-DD (default: today)")
def kb_check(directory: str | None, on: str | None) -> None:
    """Validate the knowledge base and print every problem at once."""
    root = Path(directory) if directory else _settings().knowledge_dir
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

        settings = _settings()
        if settings.redis_url or _alive(settings.data_dir / SOCKET):  # never start a store just to check
            store = _store(settings)
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

    return kb_live.stores(settings, _store(settings).r)


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
    settings = _settings()
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

    settings = _settings()
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

    settings = _settings()
    kstore, _shared = _kstore(settings)
    try:
        _version, base = kb_live.load_current(settings, kstore)
    except KnowledgeError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s): not reloaded; the running base keeps "
                                   f"answering") from None
    change = kstore.bump(_who(), f"reload of {settings.knowledge_dir}")
    click.echo(f"ok: {len(base.matters)} matters; version {change.n}: the running bot reloads within seconds")


@kb.command("history")
@click.option("--limit", default=20, show_default=True)
def kb_history(limit: int) -> None:
    """The latest changes of the base: number, when, who, what."""
    import datetime as _dt

    settings = _settings()
    kstore, _shared = _kstore(settings)
    for c in kstore.changes(limit):
        when = _dt.datetime.fromtimestamp(c.when).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{c.n:>5}  {when}  {c.who:<16} {c.what}" + (f"  ({len(c.ids)} matters)" if c.ids else ""))


@kb.command("revert")
@click.argument("number", type=int)
def kb_revert(number: int) -> None:
    """Undo one change (as a new change), if its matters did not change again since."""
    from bot import kb_live
    from bot.store.knowledge import Conflict

    settings = _settings()
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
    rows = _store(_settings()).unanswered(limit)
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
    settings = _settings()
    units = {u.id: u.name for u in load(settings.knowledge_dir).center.units}
    rows = _store(settings).referrals(day_start(since), end)
    click.echo(f"{len(rows)} referral(s) since {since}")
    for row in rows:
        when = dt.datetime.fromtimestamp(row["time"], CST).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{when}  {row['kind']}  {units.get(row['unit'], row['unit'])}  {row['reason']}  "
                   f"「{row['question']}」")


# -- the calendar ---------------------------------------------------------------------------------
@main.group()
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

    ctx = build_context(_settings())
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

    ctx = build_context(_settings())
    for year in CalendarStore(ctx.store).years():
        data = CalendarStore(ctx.store).year(year) or {}
        click.echo(f"{year}: imported by {data.get('by', '?')}, {len(data.get('holidays', {}))} days off, "
                   f"{len(data.get('workdays', {}))} make-up working days")
    for year in missing_years(ctx, days):
        click.echo(f"warning: {year}年的放假调休安排尚未导入（centerbot calendar import 通知.txt）", err=True)


# -- staff and bookings ------------------------------------------------------------------------
@main.group()
def staff() -> None:
    """The staff roster: who receives handoffs and may approve bookings on WeChat."""


@staff.command("add")
@click.option("--name", required=True)
@click.option("--openid", required=True, help="the staff member's openid on the center's account")
@click.option("--role", type=click.Choice(["window", "delegate", "leader", "admin"]), default="window",
              show_default=True)
@click.option("--backup", default="", help="name of the B holder who stands in (AB岗)")
def staff_add(name: str, openid: str, role: str, backup: str) -> None:
    """Add or update a staff member."""
    store = _store(_settings())
    if backup and store.staff(backup) is None:
        raise click.ClickException(f"no staff member named {backup}: add the backup first")
    store.add_staff(name, openid, role, backup)
    click.echo(f"staff {name} ({role}) saved")


@staff.command("list")
def staff_list() -> None:
    """List the staff (openids shortened)."""
    rows = _store(_settings()).staff_list()
    if not rows:
        click.echo("no staff yet: centerbot staff add --name NAME --openid OPENID")
    for row in rows:
        backup = f"  backup {row['backup']}" if row.get("backup") else ""
        click.echo(f"{row['name']}  {row['role']}  {row['openid'][:6]}…{backup}")


@staff.command("remove")
@click.argument("name")
def staff_remove(name: str) -> None:
    """Remove a staff member (not while they are someone's backup: the A/B post would be left empty)."""
    store = _store(_settings())
    backs_up = [row["name"] for row in store.staff_list() if row.get("backup") == name]
    if backs_up:
        raise click.ClickException(f"{name} is the backup of {', '.join(backs_up)}: give them another first")
    if not store.remove_staff(name):
        raise click.ClickException(f"no staff member named {name}")
    click.echo(f"staff {name} removed")


@staff.command("passwd")
@click.argument("name")
@click.password_option(help="the new console password (asked for twice when not given)")
def staff_passwd(name: str, password: str) -> None:
    """Set a staff member's console password (only its hash is stored)."""
    if len(password) < 8:
        raise click.ClickException("a console password has at least 8 characters")
    store = _store(_settings())
    if store.staff(name) is None:
        raise click.ClickException(f"no staff member named {name}")
    store.set_password(name, password)
    click.echo(f"password of {name} set")


@staff.command("away")
@click.argument("name")
@click.option("--until", "until", help="last day away, YYYY-MM-DD; omit to mark them back")
def staff_away(name: str, until: str | None) -> None:
    """Mark a staff member away (their B holder takes their records) until a day, or back."""
    import datetime as dt

    from handlers.clock import CST

    store = _store(_settings())
    if store.staff(name) is None:
        raise click.ClickException(f"no staff member named {name}")
    if until is None:
        store.set_away(name, None)
        click.echo(f"{name} is back")
        return
    try:
        end = dt.datetime.combine(dt.date.fromisoformat(until) + dt.timedelta(days=1), dt.time(0), CST)
    except ValueError:
        raise click.BadParameter(f"'{until}' is not a date like 2026-11-30") from None
    store.set_away(name, end.timestamp())
    click.echo(f"{name} is away until {until} (inclusive)")


@staff.command("bind-code")
@click.argument("name")
def staff_bind_code(name: str) -> None:
    """A one-time code (valid 24 h) the staff member sends as "绑定 <code>" to bind their own WeChat."""
    store = _store(_settings())
    if store.staff(name) is None:
        raise click.ClickException(f"no staff member named {name}: add them first (any placeholder openid)")
    code = store.access.issue_bind_code(name)
    click.echo(f"{name} sends this to the center's account within 24 hours:  绑定 {code}")


@main.command()
@click.option("--date", "day", help="YYYY-MM-DD (default: today)")
def bookings(day: str | None) -> None:
    """A day's bookings per resource (names and phones masked)."""
    import datetime as dt

    from handlers.clock import Clock
    from handlers.privacy import mask_phones

    settings = _settings()
    try:
        date = dt.date.fromisoformat(day) if day else Clock().today()
    except ValueError:
        raise click.BadParameter(f"'{day}' is not a date like 2026-11-25") from None
    names = {r.id: r.name for r in load(settings.knowledge_dir).resources.values()}
    rows = sorted(_store(settings).bookings.of_day(date.strftime("%Y%m%d")), key=lambda b: (b["resource"], b["start"]))
    click.echo(f"{len(rows)} booking(s) on {date.isoformat()}")
    for b in rows:
        click.echo(f"{b['code']}  {names.get(b['resource'], b['resource'])}  {b['start']}-{b['end']}  "
                   f"{b['status']}  {b['name'][:1]}**  {mask_phones(b['phone'])}")


# -- the outbox -----------------------------------------------------------------------------
@main.group()
def outbox() -> None:
    """Messages waiting for, or failed in, delivery through the WeChat API."""


@outbox.command("list")
@click.option("--which", type=click.Choice(["due", "failed", "sent"]), default="due", show_default=True)
@click.option("--limit", default=20, show_default=True)
def outbox_list(which: str, limit: int) -> None:
    """List outbox messages (openids shortened; contents to the first 40 characters)."""
    store = _store(_settings())
    click.echo(" ".join(f"{k}={v}" for k, v in store.outbox_counts().items()))
    for item in store.outbox_list(which, limit):
        content = str(item.payload.get("content", ""))[:40].replace("\n", " ")
        click.echo(f"{item.id[:12]}  {item.status:8s} tries={item.attempts} to={item.openid[:6]}…  "
                   f"{content}  {item.last_error}")


@outbox.command("user")
@click.argument("openid")
def outbox_user(openid: str) -> None:
    """What was sent to one user: customer-service texts since their last message (WeChat allows 5),
    in all, and template or subscribe messages sent instead; then their recent outbox messages."""
    from bot.store.delivery import DeliveryStore

    store = _store(_settings())
    counts = DeliveryStore(store).counts(openid)
    click.echo(f"customer-service texts since the user last wrote: {counts['used']} of {counts['limit']}; "
               f"in all: {counts['total']}; template or subscribe messages instead: {counts['fallbacks']}")
    for item in store.outbox_for_user(openid)[-20:]:
        content = str(item.payload.get("content", ""))[:40].replace("\n", " ")
        click.echo(f"{item.id[:12]}  {item.status:8s} tries={item.attempts}  {content}  {item.last_error}")


if __name__ == "__main__":
    main()

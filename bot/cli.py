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

from bot.cli_common import cli_settings, cli_store
from bot.cli_kb import calendar, kb
from bot.config import Settings
from knowledge.loader import KnowledgeError, load
from knowledge.schema import Menu




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

    settings = cli_settings()
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
    """Embed the knowledge base into the data directory's cache and the shared store (gunicorn runs
    this before its workers start; the workers and the worker then read the vectors instead of each
    computing them, and wait for them while this holds the embedding lock)."""
    import redis

    from bot import kb_live
    from knowledge import semantic
    from knowledge.matcher import Matcher

    settings = cli_settings()
    shared = None
    try:
        try:
            kstore, shared = kb_live.stores(settings, cli_store(settings).r)
            _version, kb = kb_live.load_current(settings, kstore)  # the YAML and the center-made matters
        except (redis.RedisError, OSError):  # no store yet: the YAML alone, into the cache files
            shared, kb = None, load(settings.knowledge_dir)
    except KnowledgeError as exc:
        raise click.ClickException(str(exc)) from None
    if not semantic.available():
        click.echo("the semantic channel is off or not installed: nothing to embed")
        return
    # Nothing else runs while the master waits for this: every core embeds (a web worker uses one).
    semantic.embed_with_every_core()
    started = time.monotonic()
    Matcher(kb, cache_dir=settings.data_dir / "cache", shared=shared)
    click.echo(f"the knowledge base is in the embedding cache ({time.monotonic() - started:.1f} s)")


@main.command()
def worker() -> None:
    """Run the background worker: reminders and escalations on schedule, and the outbox."""
    from bot.wechat_api import make_client
    from bot.worker import OutboxSender

    from bot.app import build_context
    from bot.kb_live import LiveBase
    from knowledge import semantic

    settings = cli_settings()
    # Started beside gunicorn, it may be the process that embeds a new base while the web workers wait
    # for the vectors: with every core, as `centerbot embed` does (it embeds at start or reload only).
    semantic.embed_with_every_core()
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
        items = cli_store(settings).outbox_for_user(user)
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
    settings = cli_settings()
    click.echo(_exchange(url, _peer(settings), user, text) or "(no passive reply)")
    _show_outbox(settings, user, set())


@main.command()
@click.option("--user", default="o_cli_user", show_default=True)
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
def chat(user: str, url: str) -> None:
    """A terminal chat that plays the WeChat server. Commands: /subscribe /unsubscribe /click KEY /quit."""
    settings = cli_settings()
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
        return cli_store(settings).outbox_for_user(user)
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

    settings = cli_settings()
    m = _load_menu(path, settings)
    client = make_client(settings, cli_store(settings))
    if client is None:
        raise click.ClickException("WECHAT_APP_ID and WECHAT_APP_SECRET are needed to push the menu")
    client.menu.create(menu_payload(m))
    click.echo(f"menu created: {len(m.buttons)} buttons, keys {', '.join(m.keys())}")


@menu.command("show")
@click.option("--file", "path")
def menu_show(path: str | None) -> None:
    """Validate the menu and print the JSON that `push` would send."""
    import json

    click.echo(json.dumps(menu_payload(_load_menu(path, cli_settings())), ensure_ascii=False, indent=2))


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
    store = cli_store(cli_settings())
    if backup and store.staff(backup) is None:
        raise click.ClickException(f"no staff member named {backup}: add the backup first")
    store.add_staff(name, openid, role, backup)
    click.echo(f"staff {name} ({role}) saved")


@staff.command("list")
def staff_list() -> None:
    """List the staff (openids shortened)."""
    rows = cli_store(cli_settings()).staff_list()
    if not rows:
        click.echo("no staff yet: centerbot staff add --name NAME --openid OPENID")
    for row in rows:
        backup = f"  backup {row['backup']}" if row.get("backup") else ""
        click.echo(f"{row['name']}  {row['role']}  {row['openid'][:6]}…{backup}")


@staff.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True, help="remove an A/B holder anyway (their posts skip them)")
def staff_remove(name: str, force: bool) -> None:
    """Remove a staff member (not while they are someone's backup or hold an A/B post: it would be left
    empty)."""
    from handlers import duty

    store = cli_store(cli_settings())
    backs_up = [row["name"] for row in store.staff_list() if row.get("backup") == name]
    if backs_up:
        raise click.ClickException(f"{name} is the backup of {', '.join(backs_up)}: give them another first")
    held = [p for p, (_, h, _) in duty.all_holders(_duty_context(store)).items() if name in h.chain]
    if held and not force:
        raise click.ClickException(f"{name} holds {', '.join(held)}: set other holders first "
                                   "(centerbot staff holders POST --a ... --b ...), or use --force")
    if not store.remove_staff(name):
        raise click.ClickException(f"no staff member named {name}")
    click.echo(f"staff {name} removed")


@staff.command("passwd")
@click.argument("name")
@click.password_option(help="the new console password (asked for twice when not given)")
def staff_passwd(name: str, password: str) -> None:
    """Set a staff member's console password (only its hash is stored), by the console's rule."""
    from bot.store.staff import PasswordRefused

    store = cli_store(cli_settings())
    if store.staff(name) is None:
        raise click.ClickException(f"no staff member named {name}")
    try:
        store.set_password(name, password)
    except PasswordRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password of {name} set")


def _day_bounds(day: str, what: str) -> float:
    """The start of a day (Beijing time) as a timestamp; a clear error for a bad date."""
    import datetime as dt

    from handlers.clock import CST

    try:
        return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), CST).timestamp()
    except ValueError:
        raise click.BadParameter(f"'{day}' is not a date like 2026-11-30", param_hint=what) from None


@staff.command("away")
@click.argument("name")
@click.option("--until", "until", help="last day away, YYYY-MM-DD; omit to mark them back")
@click.option("--from", "start", help="first day away, YYYY-MM-DD (a period planned ahead; default: now)")
def staff_away(name: str, until: str | None, start: str | None) -> None:
    """Mark a staff member away (the next B holder takes their records) until a day, from now or from a
    later day (kept beside other periods), or back (every period cleared)."""
    store = cli_store(cli_settings())
    if store.staff(name) is None:
        raise click.ClickException(f"no staff member named {name}")
    if until is None:
        store.set_away(name, None)
        click.echo(f"{name} is back")
        return
    end = _day_bounds(until, "--until") + 24 * 3600
    if start is None:
        store.set_away(name, end)
        click.echo(f"{name} is away until {until} (inclusive)")
    else:
        first = _day_bounds(start, "--from")
        if first >= end:
            raise click.BadParameter("the first day is after the last", param_hint="--from")
        store.add_away(name, first, end)
        click.echo(f"{name} is away from {start} to {until} (inclusive)")
    _echo_uncovered(store)


def _duty_context(store):
    """What handlers.duty needs: the base's posts, the store, the clock and the working calendar."""
    from types import SimpleNamespace

    from bot.store.calendar import CalendarStore
    from handlers.clock import Clock
    from knowledge.calendar import WorkCalendar

    base = load(cli_settings().knowledge_dir)
    return SimpleNamespace(kb=base, store=store, clock=Clock(), calendar=WorkCalendar(base.center, CalendarStore(store)))


def _echo_uncovered(store) -> None:
    from handlers import duty

    for gap in duty.uncovered(_duty_context(store)):
        click.echo(f"warning: {gap['label']} ({gap['post']}): A and every B holder "
                   f"({', '.join(gap['holders'].chain)}) are away on {gap['text']}")


@staff.command("holders")
@click.argument("post", required=False)
@click.option("--a", "a", help="the A holder (a roster name); '' for the leaders")
@click.option("--b", "b", multiple=True, help="a B holder, in order: --b 王芳 --b 赵敏 (or --b 王芳,赵敏)")
@click.option("--reset", is_flag=True, help="back to center.yaml's holders")
def staff_holders(post: str | None, a: str | None, b: tuple[str, ...], reset: bool) -> None:
    """Show the A and B holders of every record type and window (AB岗), or set one post's: POST is a record
    type (complaint) or a window id (type:complaint, window:civil-affairs). Live at once, no restart."""
    from handlers import duty

    store = cli_store(cli_settings())
    c = _duty_context(store)
    posts = duty.posts(c)
    if post is None:
        for name, (label, holders, live) in duty.all_holders(c).items():
            missing = [n for n in holders.chain if store.staff(n) is None]
            click.echo(f"{name}  {label}  A {holders.a or '(leaders)'}  B {', '.join(holders.b) or '-'}"
                       f"{'  (set live)' if live else ''}"
                       f"{'  NOT ON THE ROSTER: ' + ', '.join(missing) if missing else ''}")
        _echo_uncovered(store)
        return
    if post not in posts:
        post = next((p for p in (f"type:{post}", f"window:{post}") if p in posts), post)
    if post not in posts:
        raise click.ClickException(f"no record type or window '{post}': see `centerbot staff holders`")
    if reset:
        store.reset_holders(post)
        click.echo(f"{post} back to center.yaml's holders")
        _echo_uncovered(store)
        return
    current = duty.holders_of(c, post)
    names = [n for value in b for n in value.replace("，", ",").replace("、", ",").split(",") if n.strip()]
    holders, why = duty.check(c, current.a if a is None else (a or None), [n.strip() for n in names] if b else current.b)
    if holders is None:
        raise click.ClickException(why)
    store.set_holders(post, holders.a, holders.b)
    click.echo(f"{post}: A {holders.a or '(leaders)'}, B {', '.join(holders.b) or '-'}")
    _echo_uncovered(store)


@staff.command("bind-code")
@click.argument("name")
def staff_bind_code(name: str) -> None:
    """A one-time code (valid 24 h) the staff member sends as "绑定 <code>" to bind their own WeChat."""
    store = cli_store(cli_settings())
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

    settings = cli_settings()
    try:
        date = dt.date.fromisoformat(day) if day else Clock().today()
    except ValueError:
        raise click.BadParameter(f"'{day}' is not a date like 2026-11-25") from None
    names = {r.id: r.name for r in load(settings.knowledge_dir).resources.values()}
    rows = sorted(cli_store(settings).bookings.of_day(date.strftime("%Y%m%d")), key=lambda b: (b["resource"], b["start"]))
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
    store = cli_store(cli_settings())
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

    store = cli_store(cli_settings())
    counts = DeliveryStore(store).counts(openid)
    click.echo(f"customer-service texts since the user last wrote: {counts['used']} of {counts['limit']}; "
               f"in all: {counts['total']}; template or subscribe messages instead: {counts['fallbacks']}")
    for item in store.outbox_for_user(openid)[-20:]:
        content = str(item.payload.get("content", ""))[:40].replace("\n", " ")
        click.echo(f"{item.id[:12]}  {item.status:8s} tries={item.attempts}  {content}  {item.last_error}")


main.add_command(kb)
main.add_command(calendar)

if __name__ == "__main__":
    main()

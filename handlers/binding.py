"""绑定: a staff member binds their own WeChat with a one-time code. Tries are limited per openid, per
code (a code is voided after a few wrong tries) and for everyone together, and the administrators
(admins and leaders) are told once when someone keeps guessing."""
from __future__ import annotations

from handlers import notify
from handlers.context import Context
from handlers.message import Message, Reply

MAX_FAILURES = 5  # wrong codes from one openid in WINDOW: then its 绑定 pauses until the window ends
MAX_FAILURES_ALL = 30  # wrong codes from everyone together in WINDOW: then every 绑定 pauses
WINDOW = 3600


def bind(message: Message, ctx: Context, code: str) -> Reply:
    access, openid = ctx.store.access, message.openid
    if access.hits("bind-fail", openid) >= MAX_FAILURES or access.hits("bind-fail", "all") >= MAX_FAILURES_ALL:
        return Reply(ctx.render("staff/bind_locked.txt", minutes=WINDOW // 60))
    outcome, name = access.redeem_bind_code(code)
    member = ctx.store.staff(name) if outcome == "ok" else None
    if member is not None:
        access.clear("bind-fail", openid)
        ctx.store.add_staff(name, openid, member.get("role", "window"), member.get("backup", ""))
        return Reply(ctx.render("staff/bound.txt", name=name))
    if outcome == "ok":  # a good code of someone since removed from the roster: not a guess
        return Reply(ctx.render("staff/bind_failed.txt"))
    mine = access.hit("bind-fail", openid, WINDOW)
    everyone = access.hit("bind-fail", "all", WINDOW)
    if outcome == "voided":
        _warn(ctx, f"voided:{name}", "staff/bind_warn_voided.txt",
              (f"{name}的绑定码已作废", "绑定码连续输错已作废", "绑定码已作废"), "已作废",
              ("请重新生成绑定码当面交给本人", "请重新生成绑定码"), name=name)
    if mine >= MAX_FAILURES:
        _warn(ctx, f"openid:{openid}", "staff/bind_warn_openid.txt", ("有人连续输错绑定码", "绑定码疑被猜测"), "已暂停",
              ("如为本中心人员请重新生成绑定码", "请核实后重新生成绑定码"),
              tries=mine, who=_short(openid), minutes=WINDOW // 60)
    if everyone >= MAX_FAILURES_ALL:
        _warn(ctx, "all", "staff/bind_warn_all.txt", ("绑定码错误过多，绑定已暂停", "绑定已全部暂停"), "已暂停",
              (f"{WINDOW // 60}分钟后自动恢复", "稍后自动恢复"), tries=everyone, minutes=WINDOW // 60)
    return Reply(ctx.render("staff/bind_failed.txt"))


def administrators(ctx: Context) -> list[dict]:
    """The roster's admins and leaders (by role or named leaders in center.yaml)."""
    leaders = set(ctx.kb.center.records.leaders if ctx.kb.center.records else [])
    return [m for m in ctx.store.staff_list() if m.get("role") in ("admin", "leader") or m["name"] in leaders]


def _warn(ctx: Context, subject: str, template: str, title: tuple[str, ...], status: str, hint: tuple[str, ...],
          **facts) -> None:
    """Tell the administrators once per WINDOW about `subject`: a text, with its facts for the center's
    template message when the administrator has not written for 48 hours (a security alert must not wait)."""
    if not ctx.store.access.first_time(f"bind-warn:{subject}", WINDOW):
        return
    text = ctx.render(template, **facts)
    now = ctx.clock.timestamp()
    stamp = int(now // WINDOW)
    notice = notify.Notice(number=f"BIND-{ctx.clock.now():%Y%m%d%H%M}", subject=title, status=status, time=now,
                           hint=hint, kind="progress")
    for member in administrators(ctx):
        notify.staff(ctx, member["name"], text, f"bind-warn:{subject}:{stamp}", notice)


def _short(openid: str) -> str:
    return openid[:4] + "…" + openid[-4:] if len(openid) > 10 else openid

"""Staff decide bookings (同意 / 拒绝 / 爽约), on WeChat and in the console: only the resource's own
staff, the leaders and the administrators may."""
from __future__ import annotations

from handlers import notify
from handlers.booking import booking_notice, drop_jobs
from handlers.context import Context
from handlers.message import Message, Reply
from knowledge.schema import Resource


def staff_command(message: Message, verb: str, code: str, reason: str, ctx: Context) -> Reply:
    staff = ctx.store.staff_by_openid(message.openid)
    if staff is None:
        return Reply(ctx.render("booking/staff_only.txt"))
    return Reply(decide(ctx, staff, verb, code, reason)[1])


def decide(ctx: Context, staff: dict, verb: str, code: str, reason: str = "") -> tuple[bool, str]:
    """同意 / 拒绝 / 爽约 a booking, from WeChat or the console: (done, what to tell the staff member)."""
    letters = {r.code: r.id for r in ctx.kb.resources.values()}
    booking = ctx.store.bookings.get(code, letters)
    if booking is None:
        return False, ctx.render("booking/not_found.txt", code=code)
    resource = ctx.kb.resources[booking["resource"]]
    if not may_decide(ctx, staff, resource):
        return False, ctx.render("booking/not_yours.txt", b=booking, resource=resource)
    now = ctx.clock.now().timestamp()
    if verb == "同意":
        ok, result = ctx.store.bookings.transition(booking, ("pending",), "confirmed", free=False,
                                                   decided_by=staff["name"], decided=now)
        told = "booking/approved.txt"
    elif verb == "拒绝":
        if not reason:
            return False, ctx.render("booking/staff_usage.txt")
        ok, result = ctx.store.bookings.transition(booking, ("pending",), "declined", free=True,
                                                   decided_by=staff["name"], decided=now, reason=reason)
        told = "booking/declined.txt"
    else:  # 爽约
        if booking["starts"] > now:
            return False, ctx.render("booking/not_started.txt", b=booking, resource=resource)
        ok, result = ctx.store.bookings.transition(booking, ("confirmed",), "no_show", free=False,
                                                   decided_by=staff["name"], decided=now)
        told = "booking/no_show.txt"
        if ok:
            ctx.store.bookings.record_no_show(booking["openid"], booking["code"], now)
    if not ok:
        return False, ctx.render("booking/not_active.txt", b=booking, state=result)
    text = ctx.render(told, b=result, resource=resource, center=ctx.kb.center)
    status = {"confirmed": "审核通过", "declined": "未通过审核", "no_show": "未到场"}[result["status"]]
    notify.citizen(ctx, result["openid"], text, f"booking:{code}:{result['status']}",
                   booking_notice(result, resource, status, "booking"))
    if result["status"] == "declined":
        drop_jobs(ctx, result)
    return True, ctx.render("booking/staff_done.txt", verb=verb, b=result, resource=resource)


def may_decide(ctx: Context, staff: dict, resource: Resource) -> bool:
    """Bookings of a resource are decided by its own staff, the leaders and the administrators."""
    leaders = ctx.kb.center.records.leaders if ctx.kb.center.records else []
    return (staff["name"] in resource.staff or staff["name"] in leaders
            or staff.get("role") in ("leader", "admin"))

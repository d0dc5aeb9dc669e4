"""Tells what a message is, before any handler takes it: a greeting, a question, a cancellation, a
progress query, a request to start a record or a booking. Forms use it to tell a value from a message
that reads as something else (which is answered, the form kept), Rasa-form style."""
from __future__ import annotations

import re
from typing import Any

from handlers import center
from handlers.context import Context
from knowledge.text import normalize

GREETING = re.compile(r"^(你好|您好|你们好|哈喽|嗨|hi|hello|在吗|在不在|有人吗|有人在吗|早上好|上午好|中午好|下午好|晚上好|早|"
                      r"谢谢|谢谢你|谢谢您|谢谢你们|多谢|感谢|辛苦了|好的|好|行|嗯|嗯嗯|哦|噢|知道了|明白了|收到|ok|"
                      r"你是谁|你是机器人吗|你是人工吗|是机器人吗|是人工吗|人工|转人工|人工客服)[啊呀吗呢哈！!。？?~～，, ]*$",
                      re.I)
THANKS = re.compile(r"谢|感谢|辛苦")
ACK = re.compile(r"^(好的|好|行|嗯|嗯嗯|哦|噢|知道了|明白了|收到|ok)", re.I)
ROBOT = re.compile(r"机器人|人工|你是谁")
QUESTION = re.compile(r"[?？]|吗|么[?？]?$|呢[?？]?$|怎么|怎样|咋|如何|什么|啥|哪|几点|几号|多少|能不能|可不可以|是不是|有没有|要不要")
# cancelling the form in progress in plain words (取消, 退出 ... are global words)
CANCEL_PLAIN = re.compile(r"^(算了|不用了|不要了|不弄了|那算了|还是算了)?[，,。！!\s]*(我)?(还是)?(先)?(不想|不要|不用|不打算|不)(再)?"
                          r"(投诉|举报|求助|反映|建议|提建议|留言|预约|约|订|借|申请|登记|弄|办)了?[，,。！!\s]*(算了|谢谢)?[。！!]*$"
                          r"|^(算了|不用了|不要了|那算了|还是算了|不约了|不办了|先不办了|不弄了)[，,。！!\s]*(谢谢)?[。！!]*$")
# "how is my case going": the records' to answer, never a matter's
PROGRESS = re.compile(r"进度|办到哪|到哪一步|到什么程度|处理得?怎么样|处理得?如何|处理了没|处理好了没|有结果了?吗|有结果没|"
                      r"有回复了?吗|有答复了?吗|回复我了吗|办好了?吗|办好了没|办完了?吗|办得怎么样|怎么样了")
# starting a record, and the citizen's own records
RECORD_START = re.compile(r"^(我要|我想|我来)?(投诉|举报|反映(问题|情况)?|求助|提(个)?(意见|建议)|留言)$")
RECORD_LEAD = re.compile(r"^(我要|我想|我来)?(投诉|举报|反映|求助|建议|提(个)?(意见|建议))|^(我)?(有|提)(个|一个|条|一条|点)(小)?(建议|意见)|"
                         r"记者|媒体采访")
DELEGATE = re.compile(r"帮办|代办|帮我办|替我办|代我办|帮忙办")
RECORDS_MINE = re.compile(r"^(我的办件|我的工单|我的记录|办件查询|我反映的问题|我的投诉|我的代办|我的求助)$")
RECORD_QUERY = re.compile(r"^查询\s*([A-Z]{2}\d{8}-\d{4,})(?:\s+(\d{4}))?$", re.I)
RECORD_NO = re.compile(r"[A-Z]{2}\d{8}-\d{4,}", re.I)
# "how do I complain / is delegation free": a question about a service, answered before anything starts
HOW = re.compile(r"^(请问)?(怎么|如何|怎样|咋|在哪里?|哪里|去哪)(才能)?(投诉|举报|反映|求助|提建议|提意见|留言|申请帮办|申请代办|帮办|代办)"
                 r"|(投诉|举报|反映|求助|建议|意见|留言|帮办|代办).{0,6}(怎么|如何|怎样|咋)(提|申请|办|弄|操作|投诉|举报|反映|留言|找)?"
                 r"|(帮办|代办).{0,8}(收费|要钱|花钱|免费|是什么|是啥|什么意思|能办吗|可以吗|谁能|哪些人|条件)"
                 r"|^(什么是|啥是)(帮办|代办)")
BOOKING_WORDS = re.compile(r"预约|预订|预定|订一?个|约一?个|想用|借用|租用|借|能用|可以用|用一下|还有位置|有位置|有空位|有空吗|空着吗|开放吗|去健身|想去")
NUMBERED = re.compile(r"^\s*(\d{1,2})\s*$")  # a reply picking from a numbered list
BOOKINGS_MINE = re.compile(r"^(我的预约|查询预约|查看预约|预约查询|我的订单)$")
BOOKING_COMMAND = re.compile(BOOKINGS_MINE.pattern + r"|^取消预约")
WITHDRAW = re.compile(r"(撤销|撤回|撤掉|不办了|不要了|不用了).{0,8}[A-Z]{2}\d{8}-\d{4,}|[A-Z]{2}\d{8}-\d{4,}.{0,10}(撤销|撤回|撤掉|不办了|不要了|不用了)",
                      re.I)


def names_resource(text: str, ctx: Context) -> bool:
    plain = normalize(text, strip_fillers=False)
    return any(normalize(w, strip_fillers=False) in plain for r in ctx.kb.resources.values() for w in (r.name, *r.aliases))


def is_command(text: str) -> bool:
    return bool(BOOKING_COMMAND.match(text) or RECORDS_MINE.match(text) or RECORD_QUERY.match(text) or WITHDRAW.search(text))


def reads_as_other(text: str, session: dict[str, Any], ctx: Context, *, matters: bool = True) -> bool:
    """The text is not an answer to the form's question: a greeting, a command, a question about the
    center or (with `matters`) about a matter, a progress query, a request to book or to record."""
    text = text.strip()
    if GREETING.match(text) or is_command(text) or PROGRESS.search(text) or HOW.search(text):
        return True
    if center.is_center_question(text) and (matters or QUESTION.search(text)):
        return True  # a complaint about staff "上班时间玩手机" is content, "中心在哪" a question
    if names_resource(text, ctx) and (BOOKING_WORDS.search(text) or QUESTION.search(text)):
        return True
    if RECORD_START.match(text) or RECORD_LEAD.search(text):
        return True
    if matters and (QUESTION.search(text) or ctx.matcher.find_by_name(text) is not None):
        return True
    return False

"""A conversation that never traps a citizen and understands requests as well as questions (issue 16),
through the signed webhook, on Monday 2026-11-23 09:30."""
from __future__ import annotations

import pytest

PHONE = "13800138000"


def records_of(store, user="o_citizen"):
    return store.records.of_user(user)


def bookings_of(store, user="o_citizen"):
    return store.bookings.of_user(user, 0)


def is_notice(reply: str) -> bool:
    return "/notice/" in reply


# -- forms never trap ---------------------------------------------------------------------------
def test_the_readme_walk_answers_every_question_asked_inside_a_help_form_and_keeps_the_form(chat, store):
    first = chat.send("电梯坏了半年了")
    assert "登记" in first and "编号" in first and "姓名" in first
    subsistence = chat.send("低保要啥资料")
    assert "最低生活保障" in subsistence and is_notice(subsistence)
    assert "取消" in subsistence and "姓名" in subsistence  # how to go on, how to leave
    saturday = chat.send("周六开门吗")
    assert "电话号码" not in saturday and ("休息" in saturday or "不开门" in saturday)
    national_day = chat.send("国庆节开门吗")
    assert "国庆" in national_day and "电话号码" not in national_day
    where = chat.send("中心在哪")
    assert "人民路1号" in where and "电话号码" not in where
    chat.send("万达")
    done = chat.send(PHONE)
    assert "编号" in done
    [record] = records_of(store)
    assert (record["type"], record["name"], record["phone"]) == ("help", "万达", PHONE)
    assert "电梯" in record["content"]


def test_a_question_is_never_stored_as_the_applicants_name_in_a_delegation_form(chat, store):
    chat.send("我要申请代办低保")
    party_fee = chat.send("党费怎么交")
    assert "党费" in party_fee and "姓名" in party_fee
    chat.send("时光")
    chat.send(PHONE)
    [record] = records_of(store)
    assert record["type"] == "delegation" and record["name"] == "时光" and record["matter"] == "subsistence-allowance"


@pytest.mark.parametrize("aside", ["你好", "谢谢", "在吗", "好的", "帮助", "我的预约", "你是机器人吗"])
def test_greetings_and_commands_inside_a_form_are_answered_and_never_taken_as_the_name(chat, store, aside):
    chat.send("我要投诉窗口工作人员态度差")
    reply = chat.send(aside)
    assert "取消" in reply
    chat.send("向阳")
    chat.send(PHONE)
    [record] = records_of(store)
    assert record["name"] == "向阳"


def test_a_value_that_is_not_a_name_is_asked_again_with_the_reason(chat, store):
    chat.send("我要投诉窗口工作人员态度差")
    reply = chat.send("健身房")
    assert "姓名" in reply and "对不起" in reply
    assert records_of(store) == []


def test_a_wrong_phone_is_asked_again_with_the_reason_and_the_form_kept(chat, store):
    chat.send("我要投诉窗口工作人员态度差")
    chat.send("周建国")
    reply = chat.send("12345")
    assert "电话号码" in reply and "11位" in reply
    chat.send(PHONE)
    assert records_of(store)[0]["phone"] == PHONE


def test_a_name_corrected_while_the_phone_is_asked_is_kept(chat, store):
    chat.send("我要投诉窗口工作人员态度差")
    chat.send("周建国")
    assert "周建华" in chat.send("不对，我叫周建华")
    chat.send(PHONE)
    assert records_of(store)[0]["name"] == "周建华"


@pytest.mark.parametrize("words", ["算了不投诉了", "我不想投诉了", "取消", "不办了"])
def test_a_complaint_form_is_cancelled_in_plain_words_and_nothing_is_stored(chat, store, words):
    chat.send("我要投诉")
    reply = chat.send(words)
    assert "取消" in reply
    assert records_of(store) == []
    assert "好的" in chat.send("周建国") or records_of(store) == []


def test_a_one_line_booking_inside_a_complaint_form_is_made_and_the_complaint_goes_on(chat, store):
    chat.send("电梯坏了半年了")
    booked = chat.send(f"预约 健身房 明天 下午3点 周建国 {PHONE}")
    assert "预约成功" in booked and "姓名" in booked
    chat.send("时光")
    chat.send(PHONE)
    [booking] = bookings_of(store)
    [record] = records_of(store)
    assert booking["name"] == "周建国" and record["name"] == "时光"


# -- names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["周建国", "时光", "钱多多", "万里", "王五", "党志强", "于谦", "欧阳娜娜", "司马光",
                                  "诸葛亮", "上官婉儿", "尉迟敬德", "令狐冲", "周一鸣", "阿依古丽·吐尔逊"])
def test_any_real_chinese_name_is_read_as_a_name(name):
    from handlers.names import read_name
    assert read_name(name) == (name, "")


@pytest.mark.parametrize("text", ["低保要啥资料", "党费怎么交", "周六开门吗", "你好", "谢谢", "好的", "在吗",
                                  "最低生活保障", "帮助", "周六"])
def test_a_question_a_greeting_or_a_matter_is_never_read_as_a_name(text):
    from handlers.names import read_name
    name, why = read_name(text)
    assert name is None and why


@pytest.mark.parametrize("name", ["周建国", "时光", "钱多多", "万里", "欧阳娜娜", "司马光", "诸葛亮"])
def test_a_citizen_of_any_surname_books_in_one_line(chat, store, name):
    reply = chat.send(f"预约 健身房 12月7日 上午9点 {name} {PHONE}")
    assert "预约成功" in reply
    [booking] = bookings_of(store)
    assert (booking["date"], booking["start"], booking["name"]) == ("2026-12-07", "09:00", name)


def test_a_citizen_surnamed_zhou_answering_the_name_question_keeps_the_booking_form(chat, store):
    assert "姓名" in chat.send("预约 健身房 12月7日 上午9点")
    assert "电话" in chat.send("周建国")
    assert "预约成功" in chat.send(PHONE)
    assert bookings_of(store)[0]["name"] == "周建国"


# -- say what is happening before asking ---------------------------------------------------------
def test_a_complaint_says_it_is_being_registered_before_asking_the_name(chat):
    reply = chat.send("我要投诉窗口工作人员态度差")
    assert "投诉" in reply and "登记" in reply and "编号" in reply and "个工作日" in reply
    assert reply.index("登记") < reply.index("姓名")


def test_how_to_apply_for_delegation_is_answered_before_anything_starts(chat, store):
    reply = chat.send("帮办代办怎么申请")
    assert "免费" in reply and "帮办" in reply and "代办" in reply and "申请代办" in reply
    assert "请问您的姓名" not in reply
    assert "事项" in chat.send("申请代办")  # then it starts, asking the matter
    assert records_of(store) == []


def test_how_to_complain_is_answered_without_opening_a_record(chat, store):
    reply = chat.send("怎么投诉")
    assert "投诉" in reply and "我要投诉" in reply
    assert records_of(store) == []


# -- requests, not only questions ----------------------------------------------------------------
def test_reading_room_tomorrow_in_plain_words_offers_its_free_slots(chat, store):
    reply = chat.send("阅览室明天能用吗")
    assert "阅览室" in reply and "11月24日" in reply and not is_notice(reply)
    chat.send("上午10点")
    chat.send("周建国")
    chat.send(PHONE)
    [booking] = bookings_of(store)
    assert (booking["resource"], booking["date"], booking["start"]) == ("reading-room", "2026-11-24", "10:00")


@pytest.mark.parametrize("words, resource", [("借会议室开会", "会议室"), ("想用一下远程教育设备", "远程教育")])
def test_booking_intents_in_plain_words_start_the_booking(chat, words, resource):
    reply = chat.send(words)
    assert resource in reply and "哪一天" in reply and not is_notice(reply)


def test_a_day_corrected_in_plain_words_keeps_the_time_asked(chat, store):
    chat.send("预约 健身房 明天 下午3点")
    chat.send("不对，是后天")
    chat.send("周建国")
    chat.send(PHONE)
    [booking] = bookings_of(store)
    assert (booking["date"], booking["start"]) == ("2026-11-25", "15:00")


def test_a_booking_is_cancelled_with_its_code_in_plain_words(chat, store):
    chat.send(f"预约 健身房 明天 下午3点 周建国 {PHONE}")
    code = bookings_of(store)[0]["code"]
    assert "取消" in chat.send(f"我不去了，取消预约 {code}")
    assert bookings_of(store)[0]["status"] == "cancelled"


def test_a_withdrawal_with_a_number_never_starts_a_new_case(chat, store):
    chat.send("我要申请代办低保")
    chat.send("周建国")
    chat.send(PHONE)
    no = records_of(store)[0]["no"]
    reply = chat.send(f"我不想代办了，撤销代办 {no}")
    assert no in reply and "请问您需要办理什么事项" not in reply
    assert len(records_of(store)) == 1


@pytest.mark.parametrize("question, way", [("我换工作了，党员关系要转到新单位", "转出"), ("党组织关系调到县城去", "转出"),
                                           ("组织关系调来我们村要带什么", "转入"), ("党员关系从外地转来本镇", "转入")])
def test_direction_words_read_both_ways(chat, question, way):
    reply = chat.send(question)
    assert f"【党员组织关系{way}】" in reply and is_notice(reply)


# -- never a numbered list of one; dates, times and progress are not matters ------------------------
@pytest.mark.parametrize("question, says", [("中午12点到2点能办事吗", "14:00"), ("2027年2月8日能去办事吗", "2月8日"),
                                            ("周末能办事吗", "星期六"), ("后天能去办事吗", "11月25日")])
def test_date_and_time_questions_are_the_centers_to_answer(chat, question, says):
    reply = chat.send(question)
    assert says in reply and not is_notice(reply)
    assert "1." not in reply


def test_how_to_check_progress_is_answered_by_the_records_never_a_matter(chat):
    reply = chat.send("办理进度怎么查")
    assert "我的办件" in reply and "查询" in reply and not is_notice(reply)


def test_a_progress_query_in_plain_words_shows_the_citizens_own_case(chat, store):
    chat.send("我要投诉窗口工作人员态度差")
    chat.send("周建国")
    chat.send(PHONE)
    no = records_of(store)[0]["no"]
    reply = chat.send("我投诉的事处理得怎么样了")
    assert no in reply and "待接单" in reply


def test_my_records_with_one_record_is_not_a_numbered_list(chat, store):
    chat.send("我要投诉窗口工作人员态度差")
    chat.send("周建国")
    chat.send(PHONE)
    reply = chat.send("我的办件")
    assert records_of(store)[0]["no"] in reply and "1." not in reply


def test_a_greeting_is_greeted_not_answered_with_a_matter(chat):
    reply = chat.send("在吗")
    assert "您好" in reply and not is_notice(reply)


def test_a_complaint_that_mentions_working_hours_is_its_content_not_an_hours_question(chat, store):
    chat.send("我要投诉")
    assert "姓名" in chat.send("3号窗口的人上班时间玩手机，叫了半天不理人")
    chat.send("钱多多")
    chat.send(PHONE)
    [record] = records_of(store)
    assert "玩手机" in record["content"] and record["name"] == "钱多多"

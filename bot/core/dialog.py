"""The check-in dialog: a pure state machine.

`step(state, said, facts)` takes the stored state, what the member just said and what the
service knows about the day, and returns the next state, the replies and the events. Each
answer is recorded the moment it is given (a `FieldRecorded` event), so a dialog that is
abandoned or expires loses nothing; the state only remembers which question comes next.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone

from bot.core import concern, parsing, texts
from bot.core.domain import (
    AbsenceNoticed,
    AlertLevel,
    Card,
    CardTone,
    CheckInCompleted,
    Choice,
    Concern,
    ConcernKind,
    ConsultRequested,
    DayKind,
    DayMode,
    DayModeChosen,
    DialogEvent,
    DialogState,
    EntryFlagCleared,
    EntryFlagged,
    EvidenceSent,
    Facts,
    FieldRecorded,
    FieldValue,
    InboundMessage,
    Intent,
    Phase,
    Reply,
    ReportField,
    ReportSnapshot,
    ReportStatus,
    StepResult,
    UnplannedDayReported,
    WorkedDay,
    report_status,
)
from bot.core.ports import Analyser

DIALOG_TTL = timedelta(hours=2)
MAX_SLEEP_HOURS = 24.0
SLEEP_AT_MOST = 4  # the value of the 「4時間以下」 button
MAX_TASK_CHOICES = 10  # leaves room for the other buttons within LINE's 13 quick replies

IDLE = DialogState()

# "where": on a planned 通所 day, where the member works today (before the usual questions).
START_STEPS = ("time", "where", "health", "sleep", "temperature", "plan")
END_STEPS = ("time", "work_done", "outputs", "health_end", "note")

FIELD_STEP = {ReportField.PLANNED_WORK: "plan", ReportField.OUTPUTS: "outputs"}
STEP_FIELD = {
    "health": ReportField.HEALTH_START,
    "sleep": ReportField.SLEEP_HOURS,
    "temperature": ReportField.TEMPERATURE,
    "plan": ReportField.PLANNED_WORK,
    "work_done": ReportField.WORK_DONE,
    "outputs": ReportField.OUTPUTS,
    "health_end": ReportField.HEALTH_END,
    "note": ReportField.NOTE,
}

CHOICE_INTENTS = {
    "start": Intent.START,
    "end": Intent.END,
    "absent": Intent.ABSENCE,
    "consult": Intent.CONSULT,
    "fix": Intent.CORRECTION,
    "summary": Intent.SUMMARY,
    "month": Intent.MONTH,
    "cancel": Intent.CANCEL,
    "help": Intent.HELP,
}


@dataclass(frozen=True)
class _Turn:
    """What one message has produced so far; folded into a StepResult at the end."""

    facts: Facts
    now: datetime
    analyser: Analyser | None = None
    replies: tuple[Reply, ...] = ()
    events: tuple[DialogEvent, ...] = ()

    def say(self, *replies: Reply) -> _Turn:
        return replace(self, replies=self.replies + replies)

    def emit(self, *events: DialogEvent) -> _Turn:
        return replace(self, events=self.events + events)

    @property
    def report(self) -> ReportSnapshot:
        """The day's report with this turn's answers applied; its status follows its fields."""
        r = self.facts.report
        for e in self.events:
            if isinstance(e, FieldRecorded):
                r = r.with_value(e.field, e.value)
            elif isinstance(e, AbsenceNoticed) and e.day is None and r.start_at is None:
                r = replace(r, status=ReportStatus.ABSENT)
        status = report_status(r.status, start_at=r.start_at, end_at=r.end_at, outputs=r.outputs)
        return replace(r, status=status)

    @property
    def where_answered(self) -> bool:
        return any(isinstance(e, DayModeChosen) for e in self.events)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(timezone(timedelta(minutes=self.facts.tz_offset_minutes)))

    def parse(self, text: str) -> parsing.ParsedMessage:
        local = self.local(self.now).time()
        return parsing.parse_message(text, analyser=self.analyser, now=local)

    def result(self, state: DialogState) -> StepResult:
        return StepResult(state=state, replies=self.replies, events=self.events)


def step(
    state: DialogState, said: InboundMessage, facts: Facts, analyser: Analyser | None = None
) -> StepResult:
    """Advance the conversation by one message from the member."""
    turn = _Turn(facts=facts, now=said.sent_at, analyser=analyser)
    text = parsing.normalize(said.text)
    parsed = turn.parse(text) if said.choice is None else parsing.ParsedMessage()
    finding = parsed.words
    if finding is not None and finding.level is AlertLevel.CRISIS:
        # Nothing routine follows a crisis message: answers given so far stay recorded.
        turn = turn.emit(Concern(ConcernKind.CRISIS, AlertLevel.CRISIS, text[:200]))
        return turn.say(_crisis_reply(turn)).result(IDLE)
    if finding is not None:
        turn = turn.emit(Concern(ConcernKind.DISTRESS, finding.level, text[:200]))

    if not state.idle and _expired(state, said.sent_at):
        turn = turn.say(Reply(texts.EXPIRED))
        state = IDLE

    if said.evidence is not None:
        result = _evidence(turn, state, said.evidence)
    elif state.idle:
        result = _idle(turn, said, text, parsed)
    else:
        result = _in_flow(turn, state, said, text, parsed)
    return _acknowledged(result)


def asks_month(said: InboundMessage) -> bool:
    """Whether `step` may answer this message with 今月の記録 (the button, or the words
    anywhere): only then does the caller load the month's days into `Facts.month_days`."""
    if said.choice is not None:
        return CHOICE_INTENTS.get(said.choice) is Intent.MONTH
    return said.evidence is None and parsing.may_mean(said.text, Intent.MONTH)


def _crisis_reply(turn: _Turn) -> Reply:
    facts = turn.facts
    lines = [texts.CRISIS.format(name=facts.member_name)]
    local = turn.local(turn.now)
    if not facts.business_hours.is_open(local):
        when = _when(local, facts.business_hours.next_open(local))
        lines.append(texts.CRISIS_STAFF_LATER.format(when=when))
    lines.append(texts.CRISIS_CONTACTS)
    for c in facts.crisis_contacts:
        hours = f"({c.hours})" if c.hours else ""
        lines.append(texts.CRISIS_CONTACT_LINE.format(name=c.name, phone=c.phone, hours=hours))
    lines.append(texts.CRISIS_DANGER)
    return Reply("\n".join(lines))


# Said before the next question when an answer worries (体調 1 gets more than the next question).
def _ack_text(c: Concern) -> str | None:
    if c.kind is ConcernKind.LOW_HEALTH:
        return texts.POOR_HEALTH_ACK if c.level is AlertLevel.URGENT else texts.LOW_HEALTH_ACK
    if c.kind is ConcernKind.SHORT_SLEEP:
        return texts.SHORT_SLEEP_ACK
    if c.kind is ConcernKind.FEVER:
        return texts.FEVER_ACK
    if c.kind is ConcernKind.DISTRESS:
        return texts.URGENT_ACK if c.level is AlertLevel.URGENT else texts.WATCH_ACK
    return None


def _acknowledged(result: StepResult) -> StepResult:
    """Every reply to a worrying answer first says, warmly, that staff know (once per message,
    for the most serious concern)."""
    concerns = [e for e in result.events if isinstance(e, Concern) and _ack_text(e)]
    if not concerns:
        return result
    worst = max(concerns, key=lambda c: (c.level.rank, c.kind is ConcernKind.DISTRESS))
    text = _ack_text(worst) or ""
    if any(r.text == text for r in result.replies):
        return result
    return replace(result, replies=(Reply(text), *result.replies))


def _when(now: datetime, at: datetime) -> str:
    """「今日の13:00」「あした9:00」「12/28(月)9:00」: when staff are back."""
    hm = f"{at.hour}:{at.minute:02d}"
    if at.date() == now.date():
        return texts.WHEN_TODAY.format(time=hm)
    if at.date() == now.date() + timedelta(days=1):
        return texts.WHEN_TOMORROW.format(time=hm)
    weekday = texts.WEEKDAY_NAMES[at.weekday()]
    return texts.WHEN_DAY.format(month=at.month, day=at.day, weekday=weekday, time=hm)


# --- idle: what does the member want? ------------------------------------------------------


def _idle(
    turn: _Turn, said: InboundMessage, text: str, parsed: parsing.ParsedMessage
) -> StepResult:
    intent = CHOICE_INTENTS.get(said.choice or "") if said.choice else parsed.intent
    where = _where(said.choice, "")
    if where is not None and turn.facts.day_kind is DayKind.TSUSHO:  # a where button, flow gone
        return (
            _where_chosen(turn, where)
            .say(Reply(texts.MENU_PROMPT, _menu(turn.report)))
            .result(IDLE)
        )
    if parsed.consult and said.choice is None:  # 「開始 … あとで相談したいです」: both
        turn = _consult(turn, text)
    if intent is Intent.START:
        return _begin(turn, Phase.START, parsed, text)
    if intent is Intent.END:
        return _begin(turn, Phase.END, parsed, text)
    if intent is Intent.ABSENCE:
        return _absence(turn, text, parsed.day_offset).result(IDLE)
    if intent is Intent.CONSULT:
        return _consult(turn, text).result(IDLE)
    if intent is Intent.EARLY_FINISH:
        return _early_finish(turn, text).result(IDLE)
    if intent is Intent.CORRECTION:
        if parsed.correction is not None:
            return _fix_at_once(turn, *parsed.correction)
        return _begin_fix(turn)
    if intent is Intent.SUMMARY:
        return turn.say(_summary(turn)).result(IDLE)
    if intent is Intent.MONTH:
        return turn.say(_month(turn)).result(IDLE)
    if intent is Intent.HELP:
        return turn.say(Reply(texts.HELP, _menu(turn.report))).result(IDLE)
    if intent is Intent.CANCEL:
        return turn.say(Reply(texts.CANCELLED, _menu(turn.report))).result(IDLE)
    if turn.events:  # worrying words outside any flow: the acknowledgement says staff know
        return turn.say(Reply(texts.MENU_PROMPT, _menu(turn.report))).result(IDLE)
    if intent is Intent.SMALLTALK:
        return _smalltalk(turn, text).result(IDLE)
    return turn.say(Reply(texts.UNKNOWN, _menu(turn.report))).result(IDLE)


_TIRED = re.compile(r"疲れ|つかれ|ツカレ|くたくた|へとへと")
_HELLO = re.compile(r"おはよ")


def _smalltalk(turn: _Turn, text: str) -> _Turn:
    """A warm answer; once the day's work has started, the words are kept as its ひとこと."""
    report = turn.report
    menu = _menu(report)
    worked = (ReportStatus.STARTED, ReportStatus.ENDING, ReportStatus.ENDED)
    if report.status in worked and text:
        note = f"{report.note} / {text}" if report.note else text
        turn = turn.emit(FieldRecorded(ReportField.NOTE, note[:500]))
        tired = (Reply(texts.TIRED),) if _TIRED.search(text) else ()
        return turn.say(*tired, Reply(texts.SMALLTALK_KEPT, menu))
    if _HELLO.search(text) and report.status is ReportStatus.OPEN:
        return turn.say(Reply(texts.HELLO.format(name=turn.facts.member_name), menu))
    if _TIRED.search(text):
        return turn.say(Reply(texts.TIRED, menu))
    return turn.say(Reply(texts.SMALLTALK, menu))


def _menu(report: ReportSnapshot) -> tuple[Choice, ...]:
    if report.status is ReportStatus.STARTED:
        return (texts.END, texts.FIX, texts.CONSULT)
    if report.status is ReportStatus.ENDING:  # 終了報告の途中: the button finishes it
        return (texts.END_RESUME, texts.FIX, texts.CONSULT)
    if report.status is ReportStatus.ENDED:
        return (texts.SUMMARY, texts.FIX, texts.CONSULT)
    if report.status is ReportStatus.ABSENT:
        return (texts.START, texts.CONSULT)
    return (texts.START, texts.ABSENT, texts.CONSULT)


def _absence(turn: _Turn, text: str, day_offset: int = 0) -> _Turn:
    if day_offset > 0:  # 「あしたは歯医者なので休みます」: that day is absent, today is untouched
        day = turn.facts.business_date + timedelta(days=day_offset)
        turn = turn.emit(AbsenceNoticed(turn.now, text[:200], day=day))
        return turn.say(Reply(texts.ABSENCE_AHEAD.format(date=_md_weekday(day))))
    return turn.emit(AbsenceNoticed(turn.now, text[:200])).say(Reply(texts.ABSENCE))


def _consult(turn: _Turn, text: str) -> _Turn:
    turn = turn.emit(
        ConsultRequested(turn.now, text[:500]),
        Concern(ConcernKind.CONSULT, AlertLevel.WARNING, text[:200]),
    )
    hours = turn.facts.business_hours
    local = turn.local(turn.now)
    if hours.is_open(local):
        return turn.say(Reply(texts.CONSULT_ACK))
    when = _when(local, hours.next_open(local))
    return turn.say(Reply(texts.CONSULT_ACK_LATER.format(when=when)))


def _early_finish(turn: _Turn, text: str) -> _Turn:
    """Staff hear that the member will stop early; nothing is ended."""
    turn = turn.emit(Concern(ConcernKind.EARLY_FINISH, AlertLevel.INFO, text[:200]))
    return turn.say(Reply(texts.EARLY_FINISH_ACK, _menu(turn.report)))


# 「9時半に始めました」 at 9:20 is a slip to ask about; 「10時半から始めます」 is a plan.
_PAST_START = re.compile(r"(?:始め|はじめ|開始し|スタートし)(?:ました|た)")


def _begin(
    turn: _Turn, phase: Phase, parsed: parsing.ParsedMessage, said_text: str = ""
) -> StepResult:
    report = turn.report
    done_at = report.start_at if phase is Phase.START else report.end_at
    state = DialogState(
        flow=phase.value,
        started=turn.now.isoformat(),
        expires_at=(turn.now + DIALOG_TTL).isoformat(),
        quick=parsed.work is not None or parsed.health is not None,
    )
    if done_at is not None and _resumable(turn, phase, state):
        return _resume(turn, phase, state, parsed, done_at)
    if done_at is not None:
        return turn.say(_already(turn, phase)).result(IDLE)

    if turn.facts.day_kind is DayKind.UNPLANNED and report.start_at is None:
        # Not planned as a 在宅 day: everything is recorded as said; staff decide what it was.
        turn = turn.emit(UnplannedDayReported(turn.now)).say(Reply(texts.UNPLANNED_DAY_ACK))
    at_field = ReportField.START_AT if phase is Phase.START else ReportField.END_AT
    later_ok = phase is Phase.START and not _PAST_START.search(said_text)
    at = _stated_instant(turn, parsed.stated_time, later_ok=later_ok)
    if at is None:
        state = replace(state, step="time")
        return turn.say(_future_time(turn, parsed.stated_time)).result(state)
    turn = turn.emit(FieldRecorded(at_field, at))
    turn = _record_parsed(turn, phase, parsed)
    return _nudge_one_line(turn, state, phase, parsed) or _ask_next(turn, state)


def _resumable(turn: _Turn, phase: Phase, state: DialogState) -> bool:
    """A check begun but not finished: 開始 (the rich menu's, a button, typed) or 終了 again
    goes on where it stopped instead of saying it is recorded. A start lacks an answer the
    start check asks for; an end is 終了報告の途中 (R2 needs the outputs too)."""
    if phase is Phase.END:
        return turn.report.status is ReportStatus.ENDING
    resumed = replace(state, step="time", quick=True)
    return turn.report.status is ReportStatus.STARTED and _next_step(turn, resumed) is not None


def _resume(
    turn: _Turn, phase: Phase, state: DialogState, parsed: parsing.ParsedMessage, at: datetime
) -> StepResult:
    """The recorded time stays; the member goes on where they left off, with fresh buttons.
    A resumed start asks only what the start check needs (optional questions were had), and
    a one-line 「終了 入力120件」 completes an end at once."""
    quick = state.quick or phase is Phase.START
    state = replace(state, step="time", quick=quick, checked=_complete(turn.report, phase))
    turn = _record_parsed(turn, phase, parsed)
    nudged = _nudge_one_line(turn, state, phase, parsed)
    if nudged is not None:
        return nudged
    if _next_step(turn, state) is not None:
        template = texts.START_RESUMED if phase is Phase.START else texts.END_RESUMED
        turn = turn.say(Reply(template.format(time=_hm(turn.local(at)))))
    return _ask_next(turn, state)


def _already(turn: _Turn, phase: Phase) -> Reply:
    """開始 or 終了 once that check is complete: said kindly, with the day's buttons (after
    the start, 終了 is among them; after the end, the day's record)."""
    r = turn.report
    started_only = phase is Phase.START and r.end_at is None
    at = r.start_at if started_only else r.end_at
    template = texts.ALREADY_STARTED if started_only else texts.ALREADY_ENDED
    return Reply(template.format(time=_hm(turn.local(at)) if at else ""), _menu(r))


def _nudge_one_line(
    turn: _Turn, state: DialogState, phase: Phase, parsed: parsing.ParsedMessage
) -> StepResult | None:
    """「終了 特になし」 in one line gets the same single nudge as the question would."""
    f = ReportField.PLANNED_WORK if phase is Phase.START else ReportField.OUTPUTS
    value = turn.report.value(f)
    if parsed.work is None or not isinstance(value, str) or not _needs_detail(turn, f, value):
        return None
    return _nudge(turn, replace(state, step=FIELD_STEP[f]), f, value)


def _nudge(turn: _Turn, state: DialogState, f: ReportField, value: str) -> StepResult:
    """Ask once, kindly, for one concrete detail. What was said is kept, and flagged for staff
    until a detail comes, so an answer left there still shows as one to check."""
    reason = _vague_reason(turn, f, value)
    turn = turn.emit(EntryFlagged(f, reason))
    turn, state = _check_if_complete(turn, state)
    state = replace(state, nudged=(*state.nudged, f.value))
    return turn.say(_detail_request(f, value, reason)).result(state)


def _detail_request(f: ReportField, value: str, reason: str) -> Reply:
    """The one request for detail. For 成果 it offers a photo, a voice message or keeping
    the answer as it is, so it needs no typing either."""
    if reason == "same_as_previous_day":
        text = texts.ASK_DETAIL_SAME
    elif value in _UNSPECIFIC_OUTPUTS:
        text = texts.ASK_DETAIL_PARTWAY
    else:
        text = texts.ASK_DETAIL
    if f is not ReportField.OUTPUTS:
        return Reply(text)
    return Reply(text, (texts.OUTPUTS_BY_PHOTO, texts.OUTPUTS_BY_VOICE, texts.OUTPUTS_KEEP))


def _stated_instant(turn: _Turn, stated: time | None, *, later_ok: bool = False) -> datetime | None:
    """The instant a member said they started/ended; now if unstated; None if in the future,
    unless `later_ok`: 「10時半から始めます」 sent at 10:10 is a start at 10:30 that day."""
    if stated is None:
        return turn.now
    local_now = turn.local(turn.now)
    at = datetime.combine(turn.facts.business_date, stated, tzinfo=local_now.tzinfo)
    return at if at <= turn.now or later_ok else None


def _stated_later(state: DialogState, at: datetime) -> bool:
    """The start was stated for later than the message that began the flow (10時半から)."""
    try:
        began = datetime.fromisoformat(state.started or "")
    except ValueError:
        return False
    return at - began > timedelta(minutes=1)


def _future_time(turn: _Turn, stated: time | None) -> Reply:
    shown = stated.strftime("%H:%M") if stated else ""
    return Reply(texts.FUTURE_TIME.format(time=shown))


def _record_parsed(turn: _Turn, phase: Phase, parsed: parsing.ParsedMessage) -> _Turn:
    """Record what a one-line report already said (開始 体調4 睡眠7 データ入力)."""
    if parsed.health is not None:
        f = ReportField.HEALTH_START if phase is Phase.START else ReportField.HEALTH_END
        turn = _record_health(turn, f, parsed.health)
    if phase is Phase.START and parsed.sleep_hours is not None:
        if 0 <= parsed.sleep_hours <= MAX_SLEEP_HOURS:
            turn = _record_sleep(turn, parsed.sleep_hours)
        else:
            hours = _num(parsed.sleep_hours)
            turn = turn.say(Reply(texts.SLEEP_OUT_OF_RANGE.format(hours=hours)))
    if parsed.temperature is not None:
        turn = _record_temperature(turn, parsed.temperature)
    if parsed.work is not None:
        if phase is Phase.START:
            turn = turn.emit(FieldRecorded(ReportField.PLANNED_WORK, parsed.work))
        else:
            turn = turn.emit(FieldRecorded(ReportField.OUTPUTS, parsed.work))
            plan = turn.report.planned_work
            if turn.report.work_done is None and plan is not None:
                turn = turn.emit(FieldRecorded(ReportField.WORK_DONE, plan))
    return turn


def _record_health(turn: _Turn, f: ReportField, value: int) -> _Turn:
    return turn.emit(FieldRecorded(f, value), *_health_concerns(value))


def _health_concerns(value: int) -> tuple[Concern, ...]:
    level = concern.health_level(value)
    return (Concern(ConcernKind.LOW_HEALTH, level, f"体調 {value}"),) if level else ()


def _record_sleep(turn: _Turn, hours: float, *, at_most: bool = False) -> _Turn:
    """`at_most`: the 「4時間以下」 button, which is short sleep whatever the exact hours."""
    turn = turn.emit(FieldRecorded(ReportField.SLEEP_HOURS, hours))
    level = concern.sleep_level(hours, at_most=at_most)
    if level is not None:
        shown = f"睡眠 {_num(hours)}時間" + ("以下" if at_most else "")
        turn = turn.emit(Concern(ConcernKind.SHORT_SLEEP, level, shown))
    return turn


def _record_temperature(turn: _Turn, value: float) -> _Turn:
    turn = turn.emit(FieldRecorded(ReportField.TEMPERATURE, value))
    level = concern.temperature_level(value)
    if level is not None:
        turn = turn.emit(Concern(ConcernKind.FEVER, level, f"体温 {value:.1f}"))
    return turn


# --- inside a start or end flow ------------------------------------------------------------


# Keywords answered inside the flow itself (the others go through `_idle`, which hears a
# request to talk beside them already).
_LEAVING_WITH_CONSULT = (Intent.CANCEL, Intent.HELP, Intent.ABSENCE, Intent.EARLY_FINISH)


def _in_flow(
    turn: _Turn,
    state: DialogState,
    said: InboundMessage,
    text: str,
    parsed: parsing.ParsedMessage,
) -> StepResult:
    choice = said.choice
    # A button from the main menu, or a message that is only a keyword, leaves the flow;
    # free text that merely contains a keyword (「相談支援の書類作成」) is an answer.
    intent = CHOICE_INTENTS.get(choice) if choice else None
    if intent is None and choice is None and parsed.work is None:
        intent = parsed.intent if state.step not in ("outputs", "work_done") else None
        if intent in (Intent.START, Intent.END) and state.flow in ("start", "end"):
            intent = None  # 「開始」 again inside the start flow: keep answering
    if intent is None and choice is None and parsing.asks_to_talk(text):
        # A member asking for staff is heard at every step, free text included (「職員と
        # 話したい」 is no 作業内容); 「相談の資料を作った」 stays an answer.
        intent = Intent.CONSULT
    if parsed.consult and choice is None and intent in _LEAVING_WITH_CONSULT:
        turn = _consult(turn, text)  # 「やっぱり休みます、電話ください」: both are heard
    if intent is Intent.CANCEL:
        return turn.say(Reply(texts.CANCELLED, _menu(turn.report))).result(IDLE)
    if intent is Intent.CONSULT:
        # The question stays open: the member can answer it now or come back to it.
        resume = Reply(texts.CONSULT_RESUME)
        return _consult(turn, text).say(resume, _ask(turn, state)).result(state)
    if intent is Intent.HELP:
        return turn.say(Reply(texts.HELP), _ask(turn, state)).result(state)
    if intent is Intent.ABSENCE:
        return _absence(turn, text, parsed.day_offset).result(IDLE)
    if intent is Intent.EARLY_FINISH:
        return _early_finish(turn, text).say(_ask(turn, state)).result(state)
    if intent in (Intent.START, Intent.END, Intent.CORRECTION, Intent.SUMMARY, Intent.MONTH):
        return _idle(turn, said, text, parsed)

    if state.flow == "correct":
        return _fix_step(turn, state, said, text)
    handler = ANSWERS.get(state.step or "")
    if handler is None:  # a state from an older version: start afresh
        return _idle(turn, said, text, parsed)
    return handler(turn, state, said, text)


def _answer_time(turn: _Turn, state: DialogState, said: InboundMessage, text: str) -> StepResult:
    stated = parsing.parse_time(text)
    if stated is None:
        return turn.say(Reply(texts.RETRY_TIME)).result(state)
    at = _stated_instant(turn, stated)
    if at is None:
        return turn.say(_future_time(turn, stated)).result(state)
    f = ReportField.START_AT if state.flow == Phase.START.value else ReportField.END_AT
    return _ask_next(turn.emit(FieldRecorded(f, at)), state)


def _answer_health(turn: _Turn, state: DialogState, said: InboundMessage, text: str) -> StepResult:
    value = _choice_int(said.choice, "health") or parsing.parse_health(text)
    if value is None:
        return turn.say(Reply(texts.RETRY_HEALTH, texts.HEALTH_CHOICES)).result(state)
    f = ReportField.HEALTH_START if state.step == "health" else ReportField.HEALTH_END
    return _ask_next(_record_health(turn, f, value), state)


def _answer_sleep(turn: _Turn, state: DialogState, said: InboundMessage, text: str) -> StepResult:
    chosen = _choice_int(said.choice, "sleep")
    hours = float(chosen) if chosen is not None else parsing.parse_sleep(text)
    if hours is None:
        return turn.say(Reply(texts.RETRY_SLEEP, texts.SLEEP_CHOICES)).result(state)
    if not 0 <= hours <= MAX_SLEEP_HOURS:
        reply = Reply(texts.SLEEP_OUT_OF_RANGE.format(hours=_num(hours)), texts.SLEEP_CHOICES)
        return turn.say(reply).result(state)
    at_most = chosen is not None and chosen == SLEEP_AT_MOST
    return _ask_next(_record_sleep(turn, hours, at_most=at_most), state)


def _answer_temperature(
    turn: _Turn, state: DialogState, said: InboundMessage, text: str
) -> StepResult:
    if said.choice == texts.SKIP.value or text in ("スキップ", "skip", "なし"):
        return _ask_next(turn, replace(state, skipped=(*state.skipped, "temperature")))
    value = parsing.parse_temperature(text)
    if value is None:
        return turn.say(Reply(texts.RETRY_TEMPERATURE, (texts.SKIP,))).result(state)
    return _ask_next(_record_temperature(turn, value), state)


def _answer_text(turn: _Turn, state: DialogState, said: InboundMessage, text: str) -> StepResult:
    f = STEP_FIELD[state.step or ""]
    if f is ReportField.OUTPUTS and said.choice in _SEND_MEDIA:
        # 写真で送る / 声で送る: how, and the question stays open for the photo or voice
        return turn.say(Reply(_SEND_MEDIA[said.choice])).result(state)
    value = _text_answer(turn, said, text, f)
    if value is None:
        return turn.say(_ask(turn, state)).result(state)
    if f is ReportField.NOTE:  # 「なし」 typed or tapped means no note
        note = None if parsing.is_vague(value) else value
        return _ask_next(turn.emit(FieldRecorded(f, note)), state)
    vague = _needs_detail(turn, f, value)
    turn = turn.emit(FieldRecorded(f, value))
    if f.value not in state.nudged and vague:
        return _nudge(turn, state, f, value)
    if f.value in state.nudged:  # asked once: accepted either way, flagged while still vague
        flag = EntryFlagged(f, _vague_reason(turn, f, value)) if vague else EntryFlagCleared(f)
        turn = turn.emit(flag)
    return _ask_next(turn, state)


_AT_HOME = re.compile(r"在宅|ざいたく|自宅|家|うち")
_TO_FACILITY = re.compile(r"通所|つうしょ|事業所|行きます|いきます|向かいます|向かってい")


def _where(choice: str | None, text: str) -> DayMode | None:
    """Where the member works today: a where button, or words that say only one place."""
    if choice is not None:
        return {"where:zaitaku": DayMode.ZAITAKU, "where:tsusho": DayMode.TSUSHO}.get(choice)
    home, facility = bool(_AT_HOME.search(text)), bool(_TO_FACILITY.search(text))
    if home == facility:
        return None
    return DayMode.ZAITAKU if home else DayMode.TSUSHO


def _where_chosen(turn: _Turn, mode: DayMode) -> _Turn:
    ack = texts.WHERE_HOME_ACK if mode is DayMode.ZAITAKU else texts.WHERE_TSUSHO_ACK
    return turn.emit(DayModeChosen(mode, turn.now)).say(Reply(ack))


def _answer_where(turn: _Turn, state: DialogState, said: InboundMessage, text: str) -> StepResult:
    mode = _where(said.choice, text)
    if mode is None:
        return turn.say(Reply(texts.RETRY_WHERE, texts.WHERE_CHOICES)).result(state)
    return _ask_next(_where_chosen(turn, mode), state)


def _text_answer(turn: _Turn, said: InboundMessage, text: str, f: ReportField) -> str | None:
    """The text a member gave, or the text behind the button they tapped."""
    if said.choice is None:
        return text[:500] if text else None
    if said.choice == texts.NONE_NOTE.value:
        return ""
    if said.choice == "same_as_plan" and turn.report.planned_work:
        return turn.report.planned_work
    if f is ReportField.OUTPUTS:
        return _outputs_answer(turn, said.choice)
    if said.choice.startswith("task:"):
        idx = said.choice.removeprefix("task:")
        tasks = turn.facts.usual_tasks
        if idx.isdigit() and int(idx) < len(tasks):
            return tasks[int(idx)]
    return None


def _needs_detail(turn: _Turn, f: ReportField, value: str) -> bool:
    if f not in (ReportField.PLANNED_WORK, ReportField.WORK_DONE, ReportField.OUTPUTS):
        return False
    if f is ReportField.OUTPUTS and value in _UNSPECIFIC_OUTPUTS:
        return True
    return parsing.is_vague(value) or _copied(turn, f, value)


def _copied(turn: _Turn, f: ReportField, value: str) -> bool:
    """成果 identical to the previous day's read as copied to an inspector. The same 作業内容
    day after day is a routine task (封入作業, データ入力), not a copy."""
    prev = turn.facts.previous_report
    if prev is None or f is not ReportField.OUTPUTS:
        return False
    return parsing.normalize(prev.outputs or "") == parsing.normalize(value)


def _vague_reason(turn: _Turn, f: ReportField, value: str) -> str:
    copied = not parsing.is_vague(value) and _copied(turn, f, value)
    return "same_as_previous_day" if copied else "vague"


ANSWERS: dict[str, Callable[[_Turn, DialogState, InboundMessage, str], StepResult]] = {
    "time": _answer_time,
    "where": _answer_where,
    "health": _answer_health,
    "sleep": _answer_sleep,
    "temperature": _answer_temperature,
    "plan": _answer_text,
    "work_done": _answer_text,
    "outputs": _answer_text,
    "health_end": _answer_health,
    "note": _answer_text,
}


def _ask_next(turn: _Turn, state: DialogState) -> StepResult:
    """Ask the first question still unanswered, or finish the check-in."""
    turn, state = _check_if_complete(turn, state)
    nxt = _next_step(turn, state)
    if nxt is None:
        return _finish(turn, state)
    state = replace(state, step=nxt)
    return turn.say(_ask(turn, state)).result(state)


def _next_step(turn: _Turn, state: DialogState) -> str | None:
    r = turn.report
    missing: dict[str, bool] = {
        "time": False,
        "where": turn.facts.day_kind is DayKind.TSUSHO and not turn.where_answered,
        "health": r.health_start is None,
        "sleep": r.sleep_hours is None,
        "temperature": (
            turn.facts.ask_temperature
            and not state.quick
            and r.temperature is None
            and "temperature" not in state.skipped
        ),
        "plan": r.planned_work is None,
        "work_done": r.work_done is None,
        "outputs": r.outputs is None,
        "health_end": r.health_end is None,
        "note": not state.quick and state.step != "note",
    }
    steps = START_STEPS if state.flow == Phase.START.value else END_STEPS
    # Each test reads what is recorded (or skipped), so an answered question is never asked
    # twice, and one left out by a one-line report that was nudged is still asked after.
    return next((s for s in steps if missing[s]), None)


def _ask(turn: _Turn, state: DialogState) -> Reply:
    s = state.step
    if s == "where":
        return Reply(texts.ASK_WHERE, texts.WHERE_CHOICES)
    if s == "health":
        return Reply(texts.ASK_HEALTH, texts.HEALTH_CHOICES)
    if s == "health_end":
        return Reply(texts.ASK_HEALTH_END, texts.HEALTH_CHOICES)
    if s == "sleep":
        return Reply(texts.ASK_SLEEP, texts.SLEEP_CHOICES)
    if s == "temperature":
        return Reply(texts.ASK_TEMPERATURE, (texts.SKIP,))
    if s == "plan":
        return Reply(texts.ASK_PLAN, _task_choices(turn.facts.usual_tasks))
    if s == "work_done":
        plan = turn.report.planned_work
        same = (Choice(_label(f"予定どおり: {plan}"), "same_as_plan"),) if plan else ()
        return Reply(texts.ASK_WORK_DONE, same + _task_choices(turn.facts.usual_tasks))
    if s == "outputs":
        return Reply(texts.ASK_OUTPUTS, _outputs_choices(turn))
    if s == "note":
        return Reply(texts.ASK_NOTE, (texts.NONE_NOTE,))
    if s == "time":
        return Reply(texts.RETRY_TIME)
    if state.flow == "correct":
        return _ask_fix(turn, state)
    return Reply(texts.RETRY_TEXT)


def _task_choices(tasks: Sequence[str]) -> tuple[Choice, ...]:
    return tuple(Choice(_label(t), f"task:{i}") for i, t in enumerate(tasks[:MAX_TASK_CHOICES]))


def _label(s: str) -> str:
    """Button labels stay short (LINE allows 20 characters)."""
    return s if len(s) <= 20 else s[:19] + "…"


# --- 成果 without typing: buttons, a photo or a voice message --------------------------------

_UNSPECIFIC_OUTPUTS = (texts.OUTPUTS_PARTWAY_NOTE, texts.OUTPUTS_NOT_DONE_NOTE)
_SEND_MEDIA = {
    texts.OUTPUTS_BY_PHOTO.value: texts.ASK_OUTPUTS_PHOTO,
    texts.OUTPUTS_BY_VOICE.value: texts.ASK_OUTPUTS_VOICE,
}
# A plan that says how much (「入力100件」「封入 三百枚」): 「予定どおりできた」 then says it all.
_QUANTITY = re.compile(r"\d|[一二三四五六七八九十百千万]+\s*(?:件|枚|個|本|冊|頁|ページ|箱|袋|部)")


def _outputs_choices(turn: _Turn) -> tuple[Choice, ...]:
    plan = turn.report.planned_work
    counted = plan is not None and _QUANTITY.search(parsing.normalize(plan)) is not None
    return ((texts.OUTPUTS_AS_PLANNED,) if counted else ()) + texts.OUTPUTS_CHOICES


def _outputs_answer(turn: _Turn, choice: str) -> str | None:
    """The 成果 a button stands for; None for a button that is not an answer."""
    plan = turn.report.planned_work
    if choice == texts.OUTPUTS_AS_PLANNED.value and plan:
        return texts.OUTPUTS_AS_PLANNED_NOTE.format(plan=plan)[:500]
    if choice == texts.OUTPUTS_PARTWAY.value:
        return texts.OUTPUTS_PARTWAY_NOTE
    if choice == texts.OUTPUTS_NOT_DONE.value:
        return texts.OUTPUTS_NOT_DONE_NOTE
    if choice == texts.OUTPUTS_KEEP.value:  # after the request for detail: as it was said
        return turn.report.outputs
    return None


def _outputs_note(sent: EvidenceSent) -> str:
    """The 成果 a photo, file, voice or video stands as: 「音声で報告(12秒)」."""
    note = texts.EVIDENCE_OUTPUTS_NOTE[sent.media]
    return note + (texts.EVIDENCE_SECONDS.format(seconds=sent.seconds) if sent.seconds else "")


def _evidence(turn: _Turn, state: DialogState, sent: EvidenceSent) -> StepResult:
    """Content the shell has kept. Sent while 成果 is asked, it is the answer (staff listen
    or look later; said so), and after a request for detail it is that detail. Otherwise it
    is thanked for and the open question, if any, is asked again."""
    if state.flow != Phase.END.value or state.step != "outputs":
        thanks = Reply(texts.EVIDENCE_SAVED[sent.media])
        if state.idle:
            return turn.say(thanks).result(state)
        return turn.say(thanks, _ask(turn, state)).result(state)
    said = turn.report.outputs  # the answer the request for detail was about, if any
    value = f"{said} / {_outputs_note(sent)}" if said else _outputs_note(sent)
    turn = turn.emit(FieldRecorded(ReportField.OUTPUTS, value[:500]))
    if ReportField.OUTPUTS.value in state.nudged:
        turn = turn.emit(EntryFlagCleared(ReportField.OUTPUTS))
    return _ask_next(turn.say(Reply(texts.EVIDENCE_AS_OUTPUTS[sent.media])), state)


def _complete(r: ReportSnapshot, phase: Phase) -> bool:
    """R2: a start check is the start time and the work content, an end check the end time
    and the outputs (東大阪市: 「開始時間と作業内容の確認」「終了時間と成果内容の確認」)."""
    if phase is Phase.START:
        return r.start_at is not None and bool((r.planned_work or "").strip())
    return r.status is ReportStatus.ENDED


def _check_if_complete(turn: _Turn, state: DialogState) -> tuple[_Turn, DialogState]:
    """The check becomes a 支援記録 the moment it is complete, once per flow: a member who
    stops at the last optional question has still made the contact."""
    if state.flow not in (Phase.START.value, Phase.END.value) or state.checked:
        return turn, state
    phase = Phase(state.flow)
    if not _complete(turn.report, phase):
        return turn, state
    return turn.emit(CheckInCompleted(phase, turn.now)), replace(state, checked=True)


def _finish(turn: _Turn, state: DialogState) -> StepResult:
    phase = Phase(state.flow or Phase.START.value)
    report = turn.report
    at = report.start_at if phase is Phase.START else report.end_at
    hm = _hm(turn.local(at)) if at else "--:--"
    title = texts.SUMMARY_TITLE.format(date=_md(turn.facts.business_date))  # the text says when
    text = (texts.STARTED if phase is Phase.START else texts.ENDED).format(time=hm)
    if phase is Phase.START and at is not None and _stated_later(state, at):
        text = texts.START_LATER.format(time=hm)
    card = _card(turn, report, title, phase)
    return turn.say(Reply(text, (texts.FIX, texts.CONSULT), card)).result(IDLE)


# --- corrections (修正): a new value for one field, kept as a revision ----------------------


def _fixable(report: ReportSnapshot) -> tuple[ReportField, ...]:
    return tuple(f for f in ReportField if report.value(f) not in (None, ""))


def _begin_fix(turn: _Turn) -> StepResult:
    fields = _fixable(turn.report)
    if not fields:
        return turn.say(Reply(texts.NOTHING_TO_FIX, _menu(turn.report))).result(IDLE)
    state = DialogState(
        flow="correct",
        step="field",
        started=turn.now.isoformat(),
        expires_at=(turn.now + DIALOG_TTL).isoformat(),
    )
    return turn.say(_ask_fix(turn, state)).result(state)


def _ask_fix(turn: _Turn, state: DialogState) -> Reply:
    if state.step == "field":
        choices = tuple(
            Choice(texts.FIELD_LABELS[f.value], f"fix:{f.value}") for f in _fixable(turn.report)
        )
        return Reply(texts.ASK_FIX_FIELD, (*choices, texts.CANCEL))
    label = texts.FIELD_LABELS.get(state.target or "", "")
    return Reply(
        texts.ASK_FIX_VALUE.format(label=label),
        _fix_choices(state.target),
    )


def _fix_choices(target: str | None) -> tuple[Choice, ...]:
    if target in (ReportField.HEALTH_START.value, ReportField.HEALTH_END.value):
        return texts.HEALTH_CHOICES
    if target == ReportField.SLEEP_HOURS.value:
        return texts.SLEEP_CHOICES
    return (texts.CANCEL,)


def _fix_step(turn: _Turn, state: DialogState, said: InboundMessage, text: str) -> StepResult:
    if state.step == "field":
        target = _fix_target(said.choice, text)
        if target is None:
            return turn.say(_ask_fix(turn, state)).result(state)
        state = replace(state, step="value", target=target.value)
        return turn.say(_ask_fix(turn, state)).result(state)

    target = ReportField(state.target or ReportField.NOTE.value)
    value, problem = _fix_value(turn, target, said, text)
    if problem is not None:
        return turn.say(problem, _ask_fix(turn, state)).result(state)
    return _fixed(turn, target, value)


def _fix_at_once(turn: _Turn, target: ReportField, value: FieldValue) -> StepResult:
    """「体調を3に直してください」: the field and the value in one message."""
    report = turn.report
    if target is ReportField.HEALTH_START and report.health_end is not None:
        target = ReportField.HEALTH_END  # after the end check, 体調 means the latest one
    if target in (ReportField.START_AT, ReportField.END_AT) and isinstance(value, str):
        at = _stated_instant(turn, time.fromisoformat(value))
        if at is None:
            return turn.say(_future_time(turn, time.fromisoformat(value))).result(IDLE)
        value = at
    out_of_range = isinstance(value, float) and not 0 <= value <= MAX_SLEEP_HOURS
    if target is ReportField.SLEEP_HOURS and out_of_range and isinstance(value, float):
        return turn.say(Reply(texts.SLEEP_OUT_OF_RANGE.format(hours=_num(value)))).result(IDLE)
    return _fixed(turn, target, value)


def _fixed(turn: _Turn, target: ReportField, value: FieldValue) -> StepResult:
    turn = turn.emit(FieldRecorded(target, value, correction=True))
    if target in (ReportField.HEALTH_START, ReportField.HEALTH_END) and isinstance(value, int):
        turn = turn.emit(*_health_concerns(value))
    label = texts.FIELD_LABELS[target.value]
    shown = _show(turn, target, value)
    title = texts.SUMMARY_TITLE.format(date=_md(turn.facts.business_date))
    reply = Reply(
        texts.FIXED.format(label=label, after=shown),
        (texts.FIX, texts.CONSULT),
        _card(turn, turn.report, title, None),
    )
    return turn.say(reply).result(IDLE)


def _fix_target(choice: str | None, text: str) -> ReportField | None:
    if choice and choice.startswith("fix:"):
        try:
            return ReportField(choice.removeprefix("fix:"))
        except ValueError:
            return None
    for f in ReportField:
        label = texts.FIELD_LABELS[f.value]
        if text and (text == label or text in label.split("(")[0]):
            return f
    return None


def _fix_value(
    turn: _Turn, target: ReportField, said: InboundMessage, text: str
) -> tuple[FieldValue, Reply | None]:
    if target in (ReportField.START_AT, ReportField.END_AT):
        stated = parsing.parse_time(text)
        if stated is None:
            return None, Reply(texts.RETRY_TIME)
        at = _stated_instant(turn, stated)
        return (at, None) if at is not None else (None, _future_time(turn, stated))
    if target in (ReportField.HEALTH_START, ReportField.HEALTH_END):
        h = _choice_int(said.choice, "health") or parsing.parse_health(text)
        return (h, None) if h is not None else (None, Reply(texts.RETRY_HEALTH))
    if target is ReportField.SLEEP_HOURS:
        chosen = _choice_int(said.choice, "sleep")
        s = float(chosen) if chosen is not None else parsing.parse_sleep(text)
        if s is None:
            return None, Reply(texts.RETRY_SLEEP)
        if not 0 <= s <= MAX_SLEEP_HOURS:
            return None, Reply(texts.SLEEP_OUT_OF_RANGE.format(hours=_num(s)))
        return s, None
    if target is ReportField.TEMPERATURE:
        t = parsing.parse_temperature(text)
        return (t, None) if t is not None else (None, Reply(texts.RETRY_TEMPERATURE))
    if not text:
        return None, Reply(texts.RETRY_TEXT)
    return text[:500], None


# --- summaries -----------------------------------------------------------------------------


def _summary(turn: _Turn) -> Reply:
    """今日の記録: everything reported today (the card adds the hours once there is an end),
    and the way on to 今月の記録."""
    title = texts.SUMMARY_TITLE.format(date=_md(turn.facts.business_date))
    r = turn.report
    return Reply(title, (*_menu(r), texts.MONTH), _card(turn, r, title, None))


def _month(turn: _Turn) -> Reply:
    """今月の記録: the days with work recorded this month, as they were; no target and no
    comparison with anyone or any other month."""
    today = turn.report
    days = [*turn.facts.month_days]
    if today.start_at is not None:
        days.append(WorkedDay(today.business_date, today.start_at, today.end_at))
    month = turn.facts.business_date.month
    title = texts.MEMBER_MONTH_TITLE.format(month=month)
    if not days:
        return Reply(texts.MEMBER_MONTH_NONE.format(month=month), _menu(today))
    rows = tuple(
        (
            texts.MEMBER_MONTH_DAY.format(
                md=_md(d.business_date), weekday=texts.WEEKDAY_NAMES[d.business_date.weekday()]
            ),
            _times(turn, d),
        )
        for d in days
    )
    text = texts.MEMBER_MONTH_DAYS.format(month=month, days=len(days))
    menu = _menu(today)
    menu = menu if texts.SUMMARY in menu else (*menu, texts.SUMMARY)
    return Reply(text, menu, Card(title=title, rows=rows))


def _times(turn: _Turn, d: WorkedDay) -> str:
    start = _hm(turn.local(d.start_at))
    if d.end_at is None:
        return texts.MEMBER_MONTH_TIMES.format(start=start, end="")
    end = _hm(turn.local(d.end_at))
    span = texts.MEMBER_MONTH_TIMES.format(start=start, end=end)
    return f"{span}({_duration(d.end_at - d.start_at)})"


def _card(turn: _Turn, r: ReportSnapshot, title: str, phase: Phase | None) -> Card:
    shown = START_ROWS if phase is Phase.START else END_CARD if phase is Phase.END else ALL_ROWS
    rows: list[tuple[str, str]] = []
    for f in shown:
        if r.value(f) in (None, ""):
            continue
        rows.append((texts.FIELD_LABELS[f.value], _show(turn, f, r.value(f))))
        if f is ReportField.END_AT and r.start_at is not None and r.end_at is not None:
            rows.append((texts.WORKED_LABEL, _duration(r.end_at - r.start_at)))
    return Card(title=title, rows=tuple(rows), tone=_tone(turn, r, phase, shown))


def _tone(
    turn: _Turn, r: ReportSnapshot, phase: Phase | None, shown: Sequence[ReportField]
) -> CardTone:
    """A worrying value on the card (or worrying words just now) first, then the day's state."""
    if _worrying(r, shown) or any(
        isinstance(e, Concern) and e.kind in CARD_WORRIES for e in turn.events
    ):
        return CardTone.CONCERN
    if phase is Phase.END or (phase is None and r.status is ReportStatus.ENDED):
        return CardTone.END
    if phase is Phase.START or (phase is None and r.status in _WORKING):
        return CardTone.START
    return CardTone.PLAIN


def _worrying(r: ReportSnapshot, shown: Sequence[ReportField]) -> bool:
    """A value shown on the card that sits in one of concern.py's tiers."""

    def on(f: ReportField) -> FieldValue:
        return r.value(f) if f in shown else None

    health = (on(ReportField.HEALTH_START), on(ReportField.HEALTH_END))
    levels = [concern.health_level(h) for h in health if isinstance(h, int)]
    sleep, temperature = on(ReportField.SLEEP_HOURS), on(ReportField.TEMPERATURE)
    if isinstance(sleep, int | float):  # 4 may be the 「4時間以下」 button
        levels.append(concern.sleep_level(sleep, at_most=sleep == SLEEP_AT_MOST))
    if isinstance(temperature, int | float):
        levels.append(concern.temperature_level(temperature))
    return any(levels)


def _duration(span: timedelta) -> str:
    hours, minutes = divmod(max(int(span.total_seconds()) // 60, 0), 60)
    return texts.WORKED_SPAN.format(hours=hours, minutes=minutes)


CARD_WORRIES = (
    ConcernKind.LOW_HEALTH,
    ConcernKind.SHORT_SLEEP,
    ConcernKind.FEVER,
    ConcernKind.DISTRESS,
)
_WORKING = (ReportStatus.STARTED, ReportStatus.ENDING)


START_ROWS = (
    ReportField.START_AT,
    ReportField.HEALTH_START,
    ReportField.SLEEP_HOURS,
    ReportField.TEMPERATURE,
    ReportField.PLANNED_WORK,
)
END_ROWS = (
    ReportField.END_AT,
    ReportField.WORK_DONE,
    ReportField.OUTPUTS,
    ReportField.HEALTH_END,
    ReportField.NOTE,
)
ALL_ROWS = START_ROWS + END_ROWS
END_CARD = (ReportField.START_AT, *END_ROWS)  # the end card shows the whole span


def _show(turn: _Turn, f: ReportField, value: FieldValue) -> str:
    if isinstance(value, datetime):
        return _hm(turn.local(value))
    if f in (ReportField.HEALTH_START, ReportField.HEALTH_END) and isinstance(value, int):
        return f"{value} {texts.HEALTH_LABELS.get(value, '')}".strip()
    if f is ReportField.SLEEP_HOURS and isinstance(value, int | float):
        return f"{_num(value)}時間"
    if f is ReportField.TEMPERATURE and isinstance(value, int | float):
        return f"{value:.1f}℃"
    return str(value)


# --- small helpers -------------------------------------------------------------------------

UTC = timezone.utc  # noqa: UP017 - explicit for readers of the pure core


def _expired(state: DialogState, now: datetime) -> bool:
    if state.expires_at is None:
        return False
    try:
        return now > datetime.fromisoformat(state.expires_at)
    except ValueError:
        return True


def _choice_int(choice: str | None, prefix: str) -> int | None:
    if choice is None or not choice.startswith(prefix + ":"):
        return None
    raw = choice.removeprefix(prefix + ":")
    return int(raw) if raw.isdigit() else None


def _num(x: float) -> str:
    return f"{x:g}"


def _hm(at: datetime) -> str:
    return at.strftime("%H:%M")


def _md_weekday(d: date) -> str:
    return f"{d.month}/{d.day}({texts.WEEKDAY_NAMES[d.weekday()]})"


def _md(d: date) -> str:
    return f"{d.month}/{d.day}"


def menu_for(report: ReportSnapshot) -> tuple[Choice, ...]:
    """The buttons that fit the day's state (used by reminders as well)."""
    return _menu(report)

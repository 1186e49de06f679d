"""Reading members' free-text answers (Japanese) into structured values.

Pure functions: no I/O, no clock. Every public function accepts any string and never raises;
whatever cannot be read confidently comes back as None, so the dialog can simply ask again.
Values are returned as stated (睡眠30時間 -> 30.0); judging them is the dialog's job.

A message is read by cutting recognised tokens (the intent keyword, 体調4, 睡眠7, 9時半に ...)
out of the text, each replaced by a marker; what remains becomes `work`. The marker tells the
cleanup which leftover particles were glued to a removed token (「9時半に」の「に」).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import time
from typing import Generic, TypeVar

from bot.domain import Intent, Phase

__all__ = [
    "ParsedMessage",
    "is_distress",
    "is_vague",
    "normalize",
    "parse_health",
    "parse_message",
    "parse_sleep",
    "parse_temperature",
    "parse_time",
    "render_one_line",
]


@dataclass(frozen=True)
class ParsedMessage:
    intent: Intent | None = None
    health: int | None = None  # 1..5
    sleep_hours: float | None = None  # as stated; the dialog validates the range
    temperature: float | None = None  # only plausible body temperatures
    stated_time: time | None = None  # a clock time the member stated (9時半に始めました)
    work: str | None = None  # what remains: planned work (start) or outputs (end)
    distress: bool = False


# --- text shape ------------------------------------------------------------------------------

# Stands in for a removed token. normalize() drops control characters, so input never has it.
_MARK = "\x00"
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})  # controls, zero-width/format, surrogates
_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


def normalize(text: str) -> str:
    """NFKC (full-width digits and spaces -> ASCII), controls dropped, whitespace collapsed."""
    chars = []
    for ch in unicodedata.normalize("NFKC", text):
        if ch.isspace():
            chars.append(" ")
        elif unicodedata.category(ch) not in _DROPPED_CATEGORIES:
            chars.append(ch)
    return " ".join("".join(chars).split())


def _fold_kana(text: str) -> str:
    """Katakana -> hiragana, one character for one, so match positions stay valid."""
    return text.translate(_KATAKANA_TO_HIRAGANA)


def _is_word_char(ch: str) -> bool:
    """Letters, digits, kanji and katakana glue to a number; hiragana particles do not."""
    return ch.isalnum() and not ("\u3041" <= ch <= "\u309f")


def _glued(text: str, start: int, end: int) -> bool:
    """True if text[start:end] is part of a longer word (入力120件, 今日六時間)."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return _is_word_char(before) or _is_word_char(after)


def _is_kanji(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


# --- numbers ---------------------------------------------------------------------------------

_KANJI_DIGITS = {
    "〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_KANJI_CHARS = "".join(_KANJI_DIGITS) + "十"
# Bounded lengths keep int()/float() cheap on huge inputs; the look-arounds stop a match from
# starting or ending inside a longer number (12345 is not read as 1234 or 2345), and a minus
# sign makes it no reading at all (-1 is not 1).
_ARABIC = r"(?<![0-9.\-−])[0-9]{1,4}(?:\.[0-9]{1,2})?(?![0-9]|\.[0-9])"
_KANJI = rf"(?<![{_KANJI_CHARS}])[{_KANJI_CHARS}]{{1,3}}(?![{_KANJI_CHARS}])"


def _num(name: str) -> str:
    """A regex group for one number, arabic (6.5) or kanji (六, 十二, 三十五)."""
    return rf"(?P<{name}>{_ARABIC}|{_KANJI})"


def _kanji_to_int(token: str) -> int | None:
    """一 -> 1, 十二 -> 12, 二十 -> 20, 三十五 -> 35, positional 一〇 -> 10; None if malformed."""
    tens, ten, ones = token.partition("十")
    if ten:
        t = _KANJI_DIGITS.get(tens) if tens else 1
        o = _KANJI_DIGITS.get(ones) if ones else 0
        return None if t is None or o is None or t == 0 else t * 10 + o
    if not token or any(ch not in _KANJI_DIGITS for ch in token):
        return None
    return int("".join(str(_KANJI_DIGITS[ch]) for ch in token))


def _number(token: str | None) -> float | None:
    if not token:
        return None
    if token[0].isascii():  # the regex only lets ASCII digits through on this branch
        return float(token)
    value = _kanji_to_int(token)
    return None if value is None else float(value)


def _whole(token: str | None) -> int | None:
    value = _number(token)
    return int(value) if value is not None and value.is_integer() else None


# --- tokens ----------------------------------------------------------------------------------

V = TypeVar("V")
V_co = TypeVar("V_co", covariant=True)


@dataclass(frozen=True)
class _Token(Generic[V_co]):
    """A recognised piece of text. `labelled` tokens (体調…, 睡眠…, 体温…) are plainly not work
    text, so a message drops them even when their value is unusable (体調7)."""

    start: int
    end: int
    value: V_co | None
    labelled: bool = False


def _first_value(tokens: Iterable[_Token[V]]) -> V | None:
    """For a single answer: the first readable value wins."""
    return next((t.value for t in tokens if t.value is not None), None)


def _take(text: str, tokens: Iterable[_Token[V]]) -> tuple[V | None, str]:
    """For a message: cut out the first labelled or readable token, leaving a marker."""
    for t in tokens:
        if t.labelled or t.value is not None:
            return t.value, text[: t.start] + _MARK + text[t.end :]
    return None, text


# --- health (体調 1..5) ----------------------------------------------------------------------

# Matched on kana-folded text (イマイチ == いまいち). Negations are listed so they win over the
# shorter positive word they contain at the same position (良くない before 良い).
_HEALTH_WORDS = {
    "とても良い": 5, "とてもよい": 5, "とてもいい": 5, "すごく良い": 5, "すごくいい": 5,
    "絶好調": 5, "最高": 5,
    "良い": 4, "よい": 4, "いい": 4, "良好": 4, "元気": 4,
    "悪くない": 3, "ふつう": 3, "普通": 3, "まあまあ": 3,
    "少し悪い": 2, "すこし悪い": 2, "少しわるい": 2, "やや悪い": 2, "ちょっと悪い": 2,
    "いまいち": 2, "良くない": 2, "よくない": 2, "元気ない": 2, "元気がない": 2, "微妙": 2,
    "悪い": 1, "わるい": 1, "最悪": 1, "絶不調": 1,
}  # fmt: skip
_HEALTH_WORD = "|".join(sorted(map(re.escape, _HEALTH_WORDS), key=len, reverse=True))
_HEALTH_NUMBER = rf"{_num('n')}(?:\s*点|\s*/\s*5(?![0-9]))?"
_HEALTH_LABELLED = re.compile(
    rf"体調\s*(?:は|が|:|=)?\s*(?:{_HEALTH_NUMBER}"
    # 「体調5 とても良い」: the word only repeats the number, so it belongs to the token
    rf"(?:\s*(?:{_HEALTH_WORD})(?=\s|$|{_MARK}|[、。,.!]))?|(?P<w>{_HEALTH_WORD}))"
)
_HEALTH_STANDALONE = re.compile(_HEALTH_NUMBER)
_HEALTH_WORD_RE = re.compile(_HEALTH_WORD)


def _health_of(number: str | None, word: str | None) -> int | None:
    if word:
        return _HEALTH_WORDS.get(word)
    value = _whole(number)
    return value if value is not None and 1 <= value <= 5 else None


def _health_tokens(text: str, *, loose: bool) -> Iterator[_Token[int]]:
    folded = _fold_kana(text)
    for m in _HEALTH_LABELLED.finditer(folded):
        yield _Token(m.start(), m.end(), _health_of(m["n"], m["w"]), labelled=True)
    if not loose:  # in a message a bare 4 or いい is too ambiguous
        return
    for m in _HEALTH_STANDALONE.finditer(folded):
        if not _glued(folded, m.start(), m.end()):
            yield _Token(m.start(), m.end(), _health_of(m["n"], None))
    for m in _HEALTH_WORD_RE.finditer(folded):
        yield _Token(m.start(), m.end(), _HEALTH_WORDS[m[0]])


def parse_health(text: str) -> int | None:
    """体調 on the 1..5 scale from "4", "体調四", "ふつう", "5 とても良い"; None otherwise."""
    return _first_value(_health_tokens(normalize(text), loose=True))


# --- sleep (hours) ---------------------------------------------------------------------------


def _hours_unit(kanji: str) -> str:
    return (
        rf"(?:{kanji}(?:\s*{_num('m')}\s*分|\s*(?P<half>半))?"
        r"|(?:hours?|hrs?|h)(?![a-z]))"
    )


# Hedges and verbs around a duration belong to it (4時間以下, 7時間寝た); a sleep verb or
# 睡眠 after the duration is as good as a 睡眠 label.
_SLEEP_TAIL = (
    r"(?:\s*(?:以上|以下|未満|くらい|ぐらい|位|程度|ほど|前後|弱|強))?"
    r"(?P<slept>\s*(?:の)?(?:睡眠|寝ました|寝た|寝れた|眠りました|眠った|眠れた))?"
)
# 睡眠7 / 睡眠時間は7時間 / 睡眠7時 (a labelled 時 is hours too)
_SLEEP_LABELLED = re.compile(
    rf"睡眠(?:時間)?\s*(?:は|:|=)?\s*{_num('h')}(?:\s*{_hours_unit('時間?')})?{_SLEEP_TAIL}",
    re.IGNORECASE,
)
_SLEEP_DURATION = re.compile(rf"{_num('h')}\s*{_hours_unit('時間')}{_SLEEP_TAIL}", re.IGNORECASE)
_BARE_NUMBER = re.compile(_num("h"))


def _hours_of(m: re.Match[str]) -> float | None:
    hours = _number(m["h"])
    minutes = _whole(m["m"]) if m["m"] else 0
    if hours is None or minutes is None or minutes > 59:
        return None
    extra = 0.5 if m["half"] else minutes / 60
    return round(hours + extra, 2)


def _sleep_tokens(text: str, *, loose: bool, bare_ok: bool = True) -> Iterator[_Token[float]]:
    for m in _SLEEP_LABELLED.finditer(text):
        yield _Token(m.start(), m.end(), _hours_of(m), labelled=True)
    for m in _SLEEP_DURATION.finditer(text):
        if m["slept"]:
            yield _Token(m.start(), m.end(), _hours_of(m), labelled=True)
        # In a message a bare 3時間 is sleep only when it stands alone: 「作業3時間」 is work.
        elif loose or (bare_ok and not _glued(text, m.start(), m.end())):
            yield _Token(m.start(), m.end(), _hours_of(m))
    if loose:  # an answer to "how long did you sleep?" may be just "7"
        for m in _BARE_NUMBER.finditer(text):
            if not _glued(text, m.start(), m.end()):  # 9時 is a clock, not hours
                yield _Token(m.start(), m.end(), _number(m["h"]))


def parse_sleep(text: str) -> float | None:
    """Hours slept from "7", "6時間半", "六時間", "4h", "7時間30分"; None if absent."""
    return _first_value(_sleep_tokens(normalize(text), loose=True))


# --- temperature -----------------------------------------------------------------------------

_TEMP_MIN, _TEMP_MAX = 34.0, 43.0  # plausible body temperatures, [min, max)
# 37度2分 is the spoken form of 37.2 (分 = tenths of a degree)
_TEMP_UNIT = rf"(?:度(?:\s*{_num('t')}\s*分)?|°\s*c?)"
_TEMP_LABELLED = re.compile(rf"体温\s*(?:は|:|=)?\s*{_num('d')}(?:\s*{_TEMP_UNIT})?", re.IGNORECASE)
_TEMP_WITH_UNIT = re.compile(rf"{_num('d')}\s*{_TEMP_UNIT}", re.IGNORECASE)
_TEMP_DECIMAL = re.compile(r"(?<![0-9.])(?P<d>[0-9]{2}\.[0-9]{1,2})(?![0-9]|\.[0-9])")
_TEMP_BARE = re.compile(_num("d"))


def _temperature_of(m: re.Match[str]) -> float | None:
    degrees = _number(m["d"])
    tenth_token = m.groupdict().get("t")
    if degrees is None:
        return None
    if tenth_token:
        tenths = _whole(tenth_token)
        if tenths is None or tenths > 9 or not degrees.is_integer():
            return None
        degrees += tenths / 10
    return round(degrees, 2) if _TEMP_MIN <= degrees < _TEMP_MAX else None


def _temperature_tokens(text: str, *, loose: bool) -> Iterator[_Token[float]]:
    for m in _TEMP_LABELLED.finditer(text):
        yield _Token(m.start(), m.end(), _temperature_of(m), labelled=True)
    for m in _TEMP_WITH_UNIT.finditer(text):
        yield _Token(m.start(), m.end(), _temperature_of(m))
    # 36.8 alone reads as a temperature; a bare 37 only when answering the question
    for m in (_TEMP_BARE if loose else _TEMP_DECIMAL).finditer(text):
        if not _glued(text, m.start(), m.end()):
            yield _Token(m.start(), m.end(), _temperature_of(m))


def parse_temperature(text: str) -> float | None:
    """Body temperature from "36.8", "体温36.8", "37度2分"; None unless 34.0..42.9."""
    return _first_value(_temperature_tokens(normalize(text), loose=True))


# --- clock time ------------------------------------------------------------------------------

_AFTERNOON = frozenset({"午後", "pm", "夕方", "夜"})
_MORNING = frozenset({"午前", "am"})
_AMPM = r"(?:(?P<ampm>午前|午後|朝|夕方|夜|am|pm)\s*)?"
# ごろ and the particle after a time belong to it, so 「9時半に始めました」 leaves no 「に」
_TIME_TAIL = r"(?:\s*(?:頃|ごろ|くらい|ぐらい|過ぎ|すぎ))?(?:\s*(?:から|に|より|まで))?"
_CLOCK_JP = re.compile(
    rf"{_AMPM}{_num('h')}\s*時(?!間)(?:\s*{_num('m')}\s*分|\s*(?P<half>半))?{_TIME_TAIL}",
    re.IGNORECASE,
)
_CLOCK_COLON = re.compile(
    rf"{_AMPM}(?<![0-9])(?P<h>[0-9]{{1,2}}):(?P<m>[0-9]{{2}})(?![0-9]){_TIME_TAIL}",
    re.IGNORECASE,
)


def _clock_of(m: re.Match[str]) -> time | None:
    hour = _whole(m["h"])
    minute = 30 if m.groupdict().get("half") else (_whole(m["m"]) if m["m"] else 0)
    if hour is None or minute is None:
        return None
    ampm = (m["ampm"] or "").lower()
    if ampm in _AFTERNOON and hour < 12:
        hour += 12
    elif ampm in _MORNING and hour == 12:
        hour = 0
    return time(hour, minute) if hour <= 23 and minute <= 59 else None


def _is_ichiji(text: str, m: re.Match[str]) -> bool:
    """一時的 / 一時中断 mean "temporarily", not one o'clock."""
    bare = m["h"] == "一" and not m["m"] and not m.groupdict().get("half")
    return bare and _is_kanji(text[m.end() : m.end() + 1])


def _time_tokens(text: str) -> Iterator[_Token[time]]:
    matches = [*_CLOCK_JP.finditer(text), *_CLOCK_COLON.finditer(text)]
    for m in sorted(matches, key=lambda m: m.start()):
        if not _is_ichiji(text, m):
            yield _Token(m.start(), m.end(), _clock_of(m))


def parse_time(text: str) -> time | None:
    """A clock time from "9時半", "9:30", "九時", "午後1時"; None if absent or invalid (25時)."""
    return _first_value(_time_tokens(normalize(text)))


# --- distress and vagueness ------------------------------------------------------------------

# Matched on kana-folded text (ツライ == つらい). Negated forms (つらくない, 痛くない) do not
# contain these words, so they do not trigger.
_DISTRESS_WORDS = (
    "つらい", "つらかった", "つらくて", "辛い", "辛かった", "辛くて",
    "死にたい", "しにたい", "死のう", "自殺", "消えたい", "きえたい", "いなくなりたい",
    "助けて", "たすけて", "痛い", "痛くて", "痛かった", "苦しい", "苦しくて", "くるしい",
    "しんどい", "限界", "もう無理", "もうむり",
)  # fmt: skip
_DISTRESS = re.compile("|".join(map(re.escape, _DISTRESS_WORDS)))


def is_distress(text: str) -> bool:
    """Words that mean a member is struggling; staff must hear about them at once."""
    return _DISTRESS.search(_fold_kana(normalize(text))) is not None


# Entries an inspector would read as empty or copied (compared without spaces/punctuation)
_VAGUE_WORDS = frozenset({
    "なし", "無し", "特になし", "とくになし", "特に無し", "特にない", "とくにない", "特に",
    "ない", "無い", "なにも", "何も", "何もない", "なにもない", "特記事項なし",
    "同じ", "同上", "前と同じ", "昨日と同じ", "前回と同じ", "いつもと同じ", "同じく",
    "いつも通り", "いつもどおり", "いつもの", "いつも", "普段通り", "ふだんどおり",
    "作業", "仕事", "いろいろ", "色々", "適当", "未定", "same", "none", "nothing", "n/a", "na",
})  # fmt: skip
_POLITE_END = re.compile(r"(?:です|でした|だよ|だった)$")


def _is_filler_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PSZ" or ch in "ー〜"


def is_vague(text: str | None) -> bool:
    """True for empty or boilerplate answers (特になし, 同じ, いつも通り, -)."""
    if text is None:
        return True
    s = normalize(text).lower()
    if all(_is_filler_char(ch) for ch in s):  # "", "-", "ー", "..."
        return True
    core = "".join(ch for ch in s if not _is_filler_char(ch))
    return _POLITE_END.sub("", core) in _VAGUE_WORDS


# --- intent ----------------------------------------------------------------------------------

# Regex fragments, longest first within an intent. The order of intents is the priority when a
# message holds several: asking for a person beats everything, then undo/fix, then the rest.
_INTENT_WORDS: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    (Intent.CONSULT, ("相談したい", "そうだんしたい", "相談", "そうだん",
                      "電話してほしい", "電話ほしい", "電話ください", "話したい")),
    (Intent.CANCEL, ("キャンセル", "取り消し", "取消", "とりけし", "やめます", "やめる")),
    (Intent.CORRECTION, ("修正したい", "修正", "しゅうせい", "訂正したい", "訂正",
                         "ていせい", "直したい", "なおしたい")),
    (Intent.ABSENCE, ("休みます", "やすみます", "お休み", "休む", "やすむ", "欠席")),
    (Intent.START, ("始めました", "はじめました", "始めます", "はじめます", "開始",
                    "かいし(?!ゃ)", "スタート")),  # かいしゃ is 会社
    (Intent.END, ("終わりました", "おわりました", "終わります", "おわります", "終わった",
                  "おわった", "終わり", "おわり", "終了", "しゅうりょう")),
    (Intent.SUMMARY, ("今日の記録", "きろく")),
    (Intent.HELP, ("ヘルプ", "(?<![a-z])help(?![a-z])", "使い方", "つかいかた")),
)  # fmt: skip
_INTENT_PATTERNS = tuple(
    (intent, re.compile("|".join(words), re.IGNORECASE)) for intent, words in _INTENT_WORDS
)
_QUESTION_ONLY = re.compile(r"\?+")


def _take_intent(text: str) -> tuple[Intent | None, str]:
    if _QUESTION_ONLY.fullmatch(text):
        return Intent.HELP, _MARK
    for intent, pattern in _INTENT_PATTERNS:
        if pattern.search(text):
            return intent, pattern.sub(_MARK, text)
    return None, text


# --- what remains: work ----------------------------------------------------------------------

# Sentence endings carry no content (データ入力をします -> データ入力)
_ENDINGS = re.compile(
    r"(?:の予定です|予定です|の予定|予定|できました|しました|します|でした|です"
    rf"|やりました|やります|やった|やる|したい|した|する)(?=\s|$|{_MARK}|[。、,.!?])"
)
_PARTICLES = ("ので", "けど", "から", "まで", "より", "って",
              "は", "が", "を", "に", "で", "と", "も", "の", "へ")  # fmt: skip
# Dropped wherever they stand alone; generic words only when glued to a keyword (作業開始).
_FILLERS = frozenset({
    *_PARTICLES, "今日", "今日は", "きょう", "きょうは", "本日", "本日は", "今", "今から",
    "いまから", "これから", "です", "でした", "します", "しました", "ます", "ました", "ね", "よ",
})  # fmt: skip
_GENERIC = frozenset({"作業", "仕事", "業務", "さぎょう", "しごと"})


def _strip_punct(word: str) -> str:
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start])[0] == "P":
        start += 1
    while end > start and unicodedata.category(word[end - 1])[0] == "P":
        end -= 1
    return word[start:end]


def _clean_word(word: str, *, glued_left: bool, glued_right: bool) -> str:
    """Strip punctuation, and particles that touched a removed token; drop fillers."""
    while True:
        before = word
        word = _strip_punct(word)
        if glued_left:
            word = next((word[len(p) :] for p in _PARTICLES if word.startswith(p)), word)
        if glued_right:
            word = next((word[: -len(p)] for p in _PARTICLES if word.endswith(p)), word)
        if word == before:
            break
    if word in _FILLERS or ((glued_left or glued_right) and word in _GENERIC):
        return ""
    return word


def _leftover_work(text: str) -> str | None:
    pieces = re.split(f"({_MARK}| )", _ENDINGS.sub(_MARK, text))  # word, sep, word, ...
    kept = []
    for i in range(0, len(pieces), 2):
        word = _clean_word(
            pieces[i],
            glued_left=i > 0 and pieces[i - 1] == _MARK,
            glued_right=i + 1 < len(pieces) and pieces[i + 1] == _MARK,
        )
        if word:
            kept.append(word)
    return " ".join(kept) or None


# --- messages --------------------------------------------------------------------------------


def parse_message(text: str) -> ParsedMessage:
    """Read a whole message: 「開始 体調4 睡眠7 データ入力」, 「9時半に始めました」."""
    s = normalize(text)
    distress = is_distress(s)
    intent, s = _take_intent(s)
    # labelled tokens are found before bare ones inside each field's token order
    temperature, s = _take(s, _temperature_tokens(s, loose=False))
    health, s = _take(s, _health_tokens(s, loose=False))
    # at the end of the day, hours are hours worked (作業3時間), not hours slept
    sleep, s = _take(s, _sleep_tokens(s, loose=False, bare_ok=intent is not Intent.END))
    stated_time, s = _take(s, _time_tokens(s))
    return ParsedMessage(
        intent=intent,
        health=health,
        sleep_hours=sleep,
        temperature=temperature,
        stated_time=stated_time,
        work=_leftover_work(s),
        distress=distress,
    )


_PHASE_LABELS = {Phase.START: "開始", Phase.END: "終了"}


def _plain(value: float) -> str:
    """7.0 -> "7", 6.5 -> "6.5", 7.25 -> "7.25"."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def render_one_line(
    phase: Phase,
    *,
    health: int | None = None,
    sleep_hours: float | None = None,
    temperature: float | None = None,
    work: str | None = None,
) -> str:
    """The canonical one-line report, readable by parse_message: 「開始 体調4 睡眠7 データ入力」."""
    parts = [_PHASE_LABELS[phase]]
    if health is not None:
        parts.append(f"体調{health}")
    if sleep_hours is not None:
        parts.append(f"睡眠{_plain(sleep_hours)}")
    if temperature is not None:
        parts.append(f"体温{temperature:.1f}")
    if work is not None and normalize(work):
        parts.append(normalize(work))
    return " ".join(parts)

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
from dataclasses import dataclass, field
from datetime import time
from typing import Generic, TypeVar

from bot.core import concern
from bot.core.concern import Finding
from bot.core.domain import AlertLevel, FieldValue, Intent, Phase, ReportField
from bot.core.ports import Analyser

__all__ = [
    "ParsedMessage",
    "asks_to_talk",
    "is_vague",
    "normalize",
    "parse_answer",
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
    concern: AlertLevel | None = None  # the tier of worrying words (bot.core.concern), if any
    words: Finding | None = field(default=None, compare=False)  # the tier of the words
    day_offset: int = 0  # 1: about tomorrow (「あしたは歯医者なので休みます」)
    consult: bool = False  # also asks to talk, beside another intent
    correction: tuple[ReportField, FieldValue] | None = None  # 「体調を3に直してください」


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
    "悪い": 1, "わるい": 1, "最悪": 1, "さいあく": 1, "絶不調": 1,
    "げんき": 4, "ぼちぼち": 3, "まぁまぁ": 3,
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
    r"(?P<slept>\s*(?:の)?(?:睡眠|寝ました|寝た|寝れた|寝れました|寝られました|眠りました|眠った"
    r"|眠れました|眠れた))?"
)
# 睡眠7 / 睡眠時間は7時間 / 睡眠7時 (a labelled 時 is hours too)
_SLEEP_LABELLED = re.compile(
    rf"(?:睡眠(?:時間)?|(?:寝|ね|眠|ねむ)れ?(?:たのは|た時間は|たのが|た時間))"
    rf"\s*(?:は|:|=)?\s*(?:{_num('lo')}\s*(?:〜|~|-|−|から)\s*)?{_num('h')}"
    rf"(?:\s*{_hours_unit('時間?')})?{_SLEEP_TAIL}",
    re.IGNORECASE,
)
_SLEEP_DURATION = re.compile(
    # a range (5〜6時間, 5-6時間, 5から6時間) is read as its midpoint
    rf"(?:{_num('lo')}\s*(?:〜|~|-|−|から|か)\s*)?{_num('h')}\s*{_hours_unit('時間')}{_SLEEP_TAIL}",
    re.IGNORECASE,
)
_BARE_NUMBER = re.compile(_num("h"))


def _hours_of(m: re.Match[str]) -> float | None:
    hours = _number(m["h"])
    minutes = _whole(m["m"]) if m["m"] else 0
    if hours is None or minutes is None or minutes > 59:
        return None
    extra = 0.5 if m["half"] else minutes / 60
    low = _number(m.groupdict().get("lo"))
    if low is not None and low < hours:  # 5〜6時間 -> 5.5, documented in docs/records.md
        return round((low + hours + extra) / 2, 2)
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


# --- vagueness ------------------------------------------------------------------------------

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
# message holds several: a notice of finishing early beats "end" (it ends nothing), undo/fix
# beat the rest. A request to talk is found separately: beside a check-in it is a second intent.
_CONSULT_WORDS = (
    "相談したい", "そうだんしたい", "相談", "そうだん", "電話してほしい", "電話ほしい",
    "電話ください", "電話(?:を)?(?:もらえ|いただけ|して(?:もらえ|いただけ|くだ))",
    "話したい", "はなしたい", "話を?聞いて(?:ほしい|欲しい|もらえ|いただけ|くだ)",
    "話を?(?:きいて|聞いてほし)", "話(?:が|を)?(?:できますか|できません|できたら|せますか)",
    "連絡(?:を)?(?:ほしい|欲しい|ください|もらえ|いただけ)", "折り返し(?:ください|ほしい|お願い)",
    "聞いて(?:もらいたい|ほしい|欲しい)", "聞きたいこと", "話せる人", "話せますか",
)  # fmt: skip
_INTENT_WORDS: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    (Intent.CANCEL, ("キャンセル", "取り消し", "取消", "とりけし", "やめます", "やめる")),
    (Intent.CORRECTION, ("修正したい", "修正", "しゅうせい", "訂正したい", "訂正",
                         "ていせい", "直したい", "なおしたい", "直して", "なおして",
                         "間違えました", "まちがえました", "間違い", "まちがい",
                         "変更して", "変えて")),
    (Intent.EARLY_FINISH, ("早退", "早上がり", "(?:早め|はやめ|早く|はやく)(?:に)?(?:作業を?)?"
                           "(?:終わ|おわ|終え|おえ|上が|あが|切り上げ|きりあげ|抜け|ぬけ)",
                           "午前中だけ", "までに(?:します|しておきます)")),
    (Intent.ABSENCE, ("休みます", "やすみます", "休ませて", "やすませて",
                      "お休み(?:します|させて|を)?",
                      "休む", "やすむ", "休み(?:たい|です)", "欠席",
                      "(?:今日|きょう)(?:は)?(?:ちょっと)?(?:作業)?(?:無理|むり)",
                      "(?:作業|仕事)(?:は)?(?:でき|出来)(?:そうに)?(?:ない|ません)",
                      "(?:今日|きょう)(?:は)?(?:でき|出来)(?:そうに)?(?:ない|ません)",
                      "休みに(?:して|したい|します)", "やすみに(?:して|したい|します)",
                      "(?:今日|きょう)(?:は)?パス",
                      # a whole message of 「休み」 (a rich-menu button's word), not 昼休み
                      r"^(?:今日|きょう|本日)?(?:は)?(?:休み|やすみ)(?:です|でーす)?"
                      r"(?=[\s!?。、.…〜ー~\x00]*$)")),
    (Intent.START, ("始めました", "はじめました", "始めます", "はじめます", "開始",
                    "かいし(?!ゃ)", "スタート", "始める", "はじめる", "始めよう", "はじめよう",
                    "始めま", "はじめま", "取り掛か", "とりかか", "取りかか",
                    "(?<![\u4e00-\u9fff\u30a0-\u30ff])作業(?:を)?(?:します|しまーす|やります|やる)",
                    "やるで", "やります")),
    (Intent.END, ("終わりました", "おわりました", "終わります", "おわります", "終わった",
                  "おわった", "終わり", "おわり", "終了", "しゅうりょう", "終えました",
                  "おえました", "終える", "おしまい", "オワリ", "上がります", "あがります",
                  "ここまでに(?:します|する)", "しまいに(?:します|する)",
                  "(?<=[件枚個袋本つ])(?:でき|出来)ました")),
    (Intent.MONTH, ("今月の記録", "今月のきろく", "こんげつの(?:記録|きろく)")),
    (Intent.SUMMARY, ("今日の記録", "きろく")),
    (Intent.HELP, ("ヘルプ", "(?<![a-z])help(?![a-z])", "使い方", "つかいかた")),
)  # fmt: skip
# A verb keyword takes its inflection and sentence-final particles along (始めるわ, はじめまーす)
_VERB_TAIL = (
    r"(?:ります|りました|りたい|ります|ったら|った|れます|れました|ます|ました|ません|ましょう|ましょ"
    r"|まーす|まっす|る|た|て|ちゃう|ちゃいます|ちゃった"
    r"|よう|っか|っと|わ|ね|よ|ぞ|な|か|す|です|でーす|ー|〜|~)*"
)
_INTENT_PATTERNS = tuple(
    (intent, re.compile(f"(?:{'|'.join(words)}){_VERB_TAIL}", re.IGNORECASE))
    for intent, words in _INTENT_WORDS
)
_CONSULT = re.compile(f"(?:{'|'.join(_CONSULT_WORDS)}){_VERB_TAIL}")
# What the analyser adds: any inflection of the verbs (始めるわ, 終わったー, 休ませてもらいます)
_INTENT_LEMMAS = (
    (Intent.START, re.compile(r"(?:^|\|)(?:始める|開始)\|")),
    (Intent.END, re.compile(r"(?:^|\|)(?:終わる|終える|終了)\|")),
    (Intent.ABSENCE, re.compile(r"(?:^|\|)(?:休む|欠席)\|")),
)
_QUESTION_ONLY = re.compile(r"\?+")
# 「相談支援の書類作成」: 相談 inside a compound is work, not a request
_CONSULT_COMPOUND = re.compile(r"相談(?:支援|員|室|窓口|事業)")


def may_mean(text: str, intent: Intent) -> bool:
    """Whether `parse_message(text)` could read `intent`: its pattern anywhere in the text (a
    cheap superset; for callers that load data only some intents need)."""
    s = _canonical(normalize(text))
    return any(i is intent and p.search(s) for i, p in _INTENT_PATTERNS)


def _consult_spans(text: str) -> list[re.Match[str]]:
    """The words that ask to talk; 相談 inside a compound (相談支援, 相談員) is not one."""
    return [m for m in _CONSULT.finditer(text) if not _CONSULT_COMPOUND.match(text, m.start())]


def _take_intent(text: str, lemmas: str) -> tuple[Intent | None, bool, str]:
    """The intent, whether the message also asks to talk, and the text with both cut out."""
    if _QUESTION_ONLY.fullmatch(text):
        return Intent.HELP, False, _MARK
    spans = _consult_spans(text)
    consult = bool(spans)
    for m in reversed(spans):
        text = text[: m.start()] + _MARK + text[m.end() :]
    for intent, pattern in _INTENT_PATTERNS:
        if pattern.search(text):
            return intent, consult, pattern.sub(_MARK, text)
    for intent, pattern in _INTENT_LEMMAS:
        if pattern.search(lemmas):
            return intent, consult, text
    if not consult and _CONSULT_COMPOUND.search(text):  # 「相談支援の書類作成」 alone
        return Intent.CONSULT, False, text.replace("相談", _MARK, 1)
    return (Intent.CONSULT if consult else None), False, text


# At a question the noun 相談 is often the work itself (相談の資料を作った, 相談業務の入力):
# there it asks for staff only in a form that asks (相談したい, 相談があります, a bare 相談).
_CONSULT_NOUN = re.compile(r"相談|そうだん")
_CONSULT_ASKING = re.compile(
    r"(?:相談|そうだん)(?:"
    r"(?:を|が)?(?:したい|させて|して(?:も|ほし|欲し|もらい|もらえ|いただ|くだ)|お願い)"
    r"|に?(?:乗|の)って(?:ほし|欲し|もらい|もらえ|いただ|くだ)"
    r"|(?:が|も)?(?:あり|ある|あって)|です|でき(?:ます|ません|る)?(?:か|\?)|のお願い"
    r"|(?=[\s!?。、,.…〜ー~]*$))"
)
# 「電話してほしいと言われた」: someone else's words, reported
_REPORTED = re.compile(r"\s*(?:と|って)(?:言|い)われ")


def asks_to_talk(text: str) -> bool:
    """Whether a free-text answer asks for staff (相談したい, 職員と話したい, 電話してほしい)
    rather than telling what was done (相談の資料を作った, 相談支援の書類作成)."""
    s = _canonical(normalize(text))
    for m in _consult_spans(s):
        if _REPORTED.match(s, m.end()):
            continue
        if _CONSULT_NOUN.match(m[0]) and not _CONSULT_ASKING.match(s, m.start()):
            continue
        return True
    return False


# --- bedtimes, days, corrections, small talk ----------------------------------------------------

_CLOCK = (
    r"(?:(?:午前|午後|夜中?の?|朝の?|深夜)\s*)?[0-9一二三四五六七八九十〇]{1,3}\s*(?:時|じ)(?!間)"
    r"(?:\s*(?:半|はん|[0-9]{1,2}\s*分))?"
)
_SLEEP_VERB = r"(?:寝|ね(?=て|た|ま|る)|就寝|布団に入|床につ|眠)"
_WAKE_VERB = r"(?:起き|おき|起床|目が覚め|目覚め|めがさめ)"
_BED = re.compile(
    rf"(?P<t>{_CLOCK})\s*(?:頃|ごろ|くらい|ぐらい|過ぎ|すぎ)?\s*(?:に|には)?\s*{_SLEEP_VERB}[^\s、。,0-9]{{0,4}}"
    rf"|{_SLEEP_VERB}(?:た|たの|ったの)(?:は|が)\s*(?P<t2>{_CLOCK})(?:\s*(?:頃|ごろ|くらい))?(?:\s*(?:で|です|でした))?"
)
_WAKE = re.compile(
    rf"(?P<t>{_CLOCK})\s*(?:頃|ごろ|くらい|ぐらい|過ぎ|すぎ)?\s*(?:に|には)?\s*{_WAKE_VERB}[^\s、。,0-9]{{0,4}}"
    rf"|{_WAKE_VERB}(?:た|たの)(?:は|が)\s*(?P<t2>{_CLOCK})(?:\s*(?:頃|ごろ|くらい))?(?:\s*(?:で|です|でした))?"
)
_MAX_NIGHT = 16.0  # hours between a bedtime and a wake-up time read as one night


def _bed_wake(text: str) -> tuple[float | None, str]:
    """「1時に寝て8時に起きました」 -> 7.0: the clock times of sleep, cut out of the text so
    they never become a start time. A lone bedtime is cut out but gives no hours."""
    bed = _BED.search(text)
    wake = _WAKE.search(text)
    if bed is None and wake is None:
        return None, text
    hours = None
    if bed is not None and wake is not None:
        b = parse_time(bed["t"] or bed["t2"] or "")
        w = parse_time(wake["t"] or wake["t2"] or "")
        if b is not None and w is not None:
            diff = (w.hour * 60 + w.minute - b.hour * 60 - b.minute) % (24 * 60) / 60
            if diff > _MAX_NIGHT and b.hour < 12:  # 11時に寝て6時に起きた: 23:00 to 6:00
                diff = (diff - 12) % 24
            hours = round(diff, 2) if 0 < diff <= _MAX_NIGHT else None
    for m in sorted((x for x in (bed, wake) if x is not None), key=lambda m: -m.start()):
        text = text[: m.start()] + _MARK + text[m.end() :]
    return hours, text


_LABELLED = re.compile(r"体調|睡眠|体温")
# A sentence, not a bare word like 「データ入力」 (which gets the menu instead)
_SENTENCE = re.compile(r"(?:です|ます|ました|でした|った|た|ね|よ|わ|な|笑|w|!|！|〜|…|。)\W*$|。")
_EARLY_REASON = re.compile(r"ので|から|けん|ため|通院|病院|用事|予約|昼で|午前中")
_ENDED = re.compile(r"終わりました|おわりました|終わった|おわった|終了しました|終えました")
_AT_MOST_4 = re.compile(r"(?:4|四)\s*時間\s*(?:以下|未満|も(?:寝て|眠れて)(?:ない|いない))")
_NO_SLEEP = re.compile(
    r"寝てない|ねてない|寝てません|寝れてない|一睡も|徹夜|てつや|オールした|寝ていない"
)
_TOMORROW = re.compile(r"明日|あした|あす(?!か)|明後日|あさって")
_DAY_AFTER = re.compile(r"明後日|あさって")
_TODAY = re.compile(r"今日|きょう|本日")

_FIX_LABELS: tuple[tuple[str, ReportField], ...] = (
    (r"体調|たいちょう", ReportField.HEALTH_START),
    (r"睡眠(?:時間)?|すいみん|寝た時間", ReportField.SLEEP_HOURS),
    (r"体温|たいおん|熱", ReportField.TEMPERATURE),
    (r"開始(?:時間|時刻)?|始めた時間|はじめた時間", ReportField.START_AT),
    (r"終了(?:時間|時刻)?|終わった時間|おわった時間", ReportField.END_AT),
    (r"作業予定|予定", ReportField.PLANNED_WORK),
    (r"成果", ReportField.OUTPUTS),
)
_FIX_LABEL = re.compile("|".join(f"(?P<f{i}>{p})" for i, (p, _) in enumerate(_FIX_LABELS)))
_INSTEAD = re.compile(
    r"じゃなくて|じゃなく|ではなくて|ではなく|でなく|やなくて"
    r"|(?:って|と)(?:送った|おくった|書いた|かいた|言った|いった|入れた|入力した)(?:けど|けれど|が)"
    r"(?:[、,\s]*(?:本当は|ほんとうは|ほんとは|正しくは))?"
)


def _correction(text: str) -> tuple[ReportField, FieldValue] | None:
    """「体調を3に直してください」, 「睡眠、7時間じゃなくて6時間でした」: one field, one value."""
    m = _FIX_LABEL.search(text)
    if m is None:
        return None
    target = next(f for i, (_, f) in enumerate(_FIX_LABELS) if m[f"f{i}"])
    if target is ReportField.HEALTH_START and _END_SIDE.search(text[: m.start()]):
        target = ReportField.HEALTH_END
    rest = text[m.end() :].lstrip("をはがの、, ")
    instead = _INSTEAD.search(rest)
    if instead is not None:
        rest = rest[instead.end() :]
    value: FieldValue
    if target is ReportField.HEALTH_START:
        value = _first_value(_health_tokens(_fold_kana(rest), loose=True))
    elif target is ReportField.SLEEP_HOURS:
        value = _first_value(_sleep_tokens(rest, loose=True))
    elif target is ReportField.TEMPERATURE:
        value = _first_value(_temperature_tokens(rest, loose=True))
    elif target in (ReportField.START_AT, ReportField.END_AT):
        t = _first_value(_time_tokens(rest))
        value = t.strftime("%H:%M") if t is not None else None
    else:
        value = _leftover_work(_FIX_TAIL.sub(_MARK, rest))
    return (target, value) if value is not None else None


_END_SIDE = re.compile(r"終わり|おわり|終了|夕方|帰り|今の|いまの")
_FIX_TAIL = re.compile(
    r"(?:に|へ)?(?:直して|なおして|修正して|修正|訂正して|訂正|変更して|変更|変えて|かえて)(?:ください|下さい|もらえますか|ほしい|お願いします|したい)?"
    r"|(?:でした|です)"
)

# Greetings and small talk: a warm answer, never "I did not understand".
_SMALLTALK = re.compile(
    r"おはよ|こんにち|こんばん|ありがと|よろしく|お疲れ|おつかれ|疲れ|つかれ|眠い|ねむい|"
    r"雨|晴れ|天気|暑い|あつい|寒い|さむい|すずし|涼し|ただいま|いってきます|おやすみ|"
    r"がんば|頑張|元気|げんき|嬉し|うれし|楽し|たのし|かわいい|可愛い|美味し|おいし|"
    r"ねこ|猫|いぬ|犬|休憩|きゅうけい|ひるごはん|昼ごはん|お昼|ランチ|すみません|ごめん|"
    r"了解|りょうかい|わかりました|はい|うん|ok|おk|👍|😊|🙂|😀|🙏|✨|💦"
)
_GREETING = re.compile(
    r"(?:おはよう(?:ございます|ございまーす|ござます)?|おはよー?|こんにちは|こんばんは|"
    r"よろしくお願いします|よろしくおねがいします|お疲れ様です|おつかれさまです|お疲れさまです)"
    r"[!！。、.,~〜ー\s]*"
)
_CANON_LABELS = (
    (re.compile(r"(?:ちょっと|少し|すこし|やや)体調が?(?=悪|わる)"), "体調が少し"),
    (re.compile(r"たいちょう|タイチョウ"), "体調"),
    (re.compile(r"すいみん|スイミン"), "睡眠"),
    (re.compile(r"たいおん|タイオン"), "体温"),
    (re.compile(r"(?<=[0-9])\s*(?:じかん|ジカン)"), "時間"),
    (re.compile(r"(?<=[0-9])\s*(?:じはん|ジハン)"), "時半"),
    (re.compile(r"(?<=[0-9])\s*(?:じ|ジ)(?=[0-9]|から|に|ごろ|頃|\s|$)"), "時"),
    (re.compile(r"(?<=[0-9])\s*(?:ど|ド)(?=[0-9]|\s|$|です|でした|ぶ|分)"), "度"),
)


def _canonical(text: str) -> str:
    """Kana spellings of the labels the parser knows (タイチョウ, すいみん, 6じかん)."""
    for pattern, label in _CANON_LABELS:
        text = pattern.sub(label, text)
    return text


# --- what remains: work ----------------------------------------------------------------------

# Sentence endings carry no content (データ入力をします -> データ入力)
_ENDINGS = re.compile(
    r"(?:の予定です|予定です|の予定|予定|できました|しました|します|でした|です"
    rf"|やりました|やります|やった|やる|したい|した|する)(?=\s|$|{_MARK}|[。、,.!?])"
)
_PARTICLES = ("なので", "だから", "ので", "けど", "から", "まで", "より", "って",
              "は", "が", "を", "に", "で", "と", "も", "の", "へ")  # fmt: skip
# Dropped wherever they stand alone; generic words only when glued to a keyword (作業開始).
_FILLERS = frozenset({
    *_PARTICLES, "今日", "今日は", "きょう", "きょうは", "本日", "本日は", "今", "今から",
    "いまから", "これから", "あとで", "後で", "あと", "さっき", "ちょっと",
    "です", "でした", "します", "しました", "ます", "ました", "ね", "よ",
})  # fmt: skip
_GENERIC = frozenset({"作業", "仕事", "業務", "さぎょう", "しごと"})


# Pieces of a message that are never the work: how the member slept or felt, the words of the
# check-in itself, time words and the sentence's own frame (「本日はデータ入力を行います」).
_LEAD = re.compile(
    r"^(?:(?:今日|きょう|本日|今朝|いま|今|これ|ここ|ただいま)(?:は|も|の|で|より|から)?)*"
    r"(?:(?:成果|進んだこと|やったこと|作業|予定|内容|本日の作業|今日の作業)(?:は|:)+)?"
)
_TAIL = re.compile(
    r"(?:を|は)?(?:行います|行いました|やります|やりました|やった|やる|します|しました|する"
    r"|できました|出来ました|描けました|描けま|作りました|作った|しておきます|したい|した|予定です|予定"
    r"|ました|ます|でした|です|でーす|っす|じゃけん|けん|じゃ|やで|だべ|べ|ねん|や|だよ|よ|ね|わ)+$"
)
_NOT_WORK = re.compile(
    r"寝|眠|徹夜|起き|ぐっすり|体調|睡眠|ございます|いたします|^いた$"
    r"|^(?:始め|はじめ|開始|終わ|おわ|終了)|始めて|はじめて|^(?:こと|もの)(?:が|を)?(?:あり|ある)"
    r"|くらいかな|^でも$|^(?:成果|進んだこと|やったこと)$"
)
_HOURS_WORKED = re.compile(r"(?:作業)?[0-9.]+時間(?:作業)?")
_HIRAGANA_ONLY = re.compile(r"[ぁ-ゖー〜]{1,4}")
_PIECE_SEP = re.compile(rf"[{_MARK}\s。、!?,.…・:;()「」『』【】]+")


def _kana_break(piece: str, at: int) -> bool:
    """Whether cutting `piece` at `at` leaves a non-hiragana character next to the cut."""
    if len(piece) <= abs(at):
        return True
    ch = piece[at] if at >= 0 else piece[at - 1]
    return not ("\u3041" <= ch <= "\u309f")


_ENDING_AFTER_MARK = re.compile(rf"{_MARK}(?:です|でした|だよ|やで|っす)")


def _clean_piece(piece: str) -> str:
    piece = "".join(ch for ch in piece if unicodedata.category(ch) != "So")  # emoji
    for _ in range(3):
        before = piece
        piece = _LEAD.sub("", piece)
        piece = _TAIL.sub("", piece)
        # a particle at the edge belongs to a removed word, unless it spells one (にゅうりょく)
        piece = next(
            (
                piece[len(p) :]
                for p in _PARTICLES
                if piece.startswith(p) and _kana_break(piece, len(p))
            ),
            piece,
        )
        piece = next(
            (
                piece[: -len(p)]
                for p in _PARTICLES
                if piece.endswith(p) and _kana_break(piece, -len(p))
            ),
            piece,
        )
        if piece == before:
            break
    if piece in _FILLERS or piece in _GENERIC or _NOT_WORK.search(piece):
        return ""
    return piece


def _leftover_work(text: str) -> str | None:
    text = _ENDING_AFTER_MARK.sub(_MARK, text)
    pieces = [p for p in (_clean_piece(p) for p in _PIECE_SEP.split(text)) if p]
    if len(pieces) > 1:  # short hiragana leftovers (ねむい, いま) and hours worked go with the rest
        pieces = [p for p in pieces if not _HIRAGANA_ONLY.fullmatch(p)] or pieces
        pieces = [p for p in pieces if not _HOURS_WORKED.fullmatch(p)] or pieces
    return " ".join(pieces) or None


# --- messages --------------------------------------------------------------------------------


def parse_message(
    text: str, *, analyser: Analyser | None = None, now: time | None = None
) -> ParsedMessage:
    """Read a whole message: 「開始 体調4 睡眠7 データ入力」, 「9時半に始めました」.

    `analyser` (the morphological port) adds inflection-aware intents and concern words;
    `now` (the member's local time) reads a bare 「2時から」 sent after noon as 14:00.
    """
    s = _canonical(normalize(text))
    lemmas = _lemmas(s, analyser)
    finding = concern.assess(s, analyser, lemmas=lemmas)
    whole = s
    intent, consult, s = _take_intent(s, lemmas)
    fixing = _INSTEAD.search(whole) and _FIX_LABEL.search(whole)  # 「睡眠、7時間じゃなくて6時間」
    if intent in (None, Intent.END, Intent.START) and fixing:
        intent = Intent.CORRECTION
    correction = _correction(whole) if intent is Intent.CORRECTION else None
    day_offset = 0
    if intent is Intent.ABSENCE and _TOMORROW.search(s) and not _TODAY.search(s):
        day_offset = 2 if _DAY_AFTER.search(s) else 1
        s = _TOMORROW.sub(_MARK, s)
    slept, s = _bed_wake(s)
    s = _GREETING.sub(_MARK, s)
    # labelled tokens are found before bare ones inside each field's token order
    temperature, s = _take(s, _temperature_tokens(s, loose=False))
    health, s = _take(s, _health_tokens(s, loose=False))
    # at the end of the day, hours are hours worked (作業3時間), not hours slept
    sleep, s = _take(s, _sleep_tokens(s, loose=False, bare_ok=intent is not Intent.END))
    if sleep is None and slept is not None:
        sleep = slept
    if sleep is None and _NO_SLEEP.search(s) and intent is not Intent.END:
        sleep = 0.0
    # at the end of the day the last time is the end (「10時から始めて15時に終わりました」)
    last = intent in (Intent.END, Intent.EARLY_FINISH)
    stated_time, s = _take(s, reversed(list(_time_tokens(s))) if last else _time_tokens(s))
    if stated_time is not None:
        stated_time = _afternoon(stated_time, text, now)
    work = _leftover_work(s) if correction is None else None
    if (
        intent is None
        and work is not None
        and _SMALLTALK.search(work.lower())
        and not (health or sleep or temperature or stated_time)
    ):
        intent = Intent.SMALLTALK
    values = (health, sleep, temperature, stated_time)
    if finding is not None and finding.level is AlertLevel.CRISIS:
        intent, consult = None, False  # nothing routine is read into a crisis message
    elif intent is Intent.END and _EARLY_REASON.search(whole) and not _ENDED.search(whole):
        intent = Intent.EARLY_FINISH  # 「2時半に終わります、通院があるので」: ends nothing yet
    if intent is None and not consult and work and any(v is not None for v in (health, sleep)):
        intent = Intent.START  # 「体調4 睡眠7 データ入力」: the morning's answers, no keyword
    elif (
        intent is None
        and not consult
        and all(v is None for v in values)
        and text.strip()
        and finding is None
        and not _LABELLED.search(whole)
        and (work is None or _SMALLTALK.search(text) or _SENTENCE.search(text))
    ):
        intent = Intent.SMALLTALK  # no check-in content: a greeting or small talk
    if intent is Intent.SMALLTALK:
        work = None  # the dialog keeps the whole message as the day's ひとこと
    return ParsedMessage(
        intent=intent,
        health=health,
        sleep_hours=sleep,
        temperature=temperature,
        stated_time=stated_time,
        work=work,
        concern=_worst(finding, health, sleep, temperature, at_most=bool(_AT_MOST_4.search(whole))),
        words=finding,
        day_offset=day_offset,
        consult=consult and intent is not None and intent is not Intent.CONSULT,
        correction=correction,
    )


def parse_answer(step: str, text: str, *, analyser: Analyser | None = None) -> ParsedMessage:
    """Read the answer to one question ("health", "sleep", "temperature", "time", or a free-text
    step such as "plan" and "outputs"), with the concern its words and value carry."""
    s = _canonical(normalize(text))
    finding = concern.assess(s, analyser)
    health = sleep = temperature = None
    stated: time | None = None
    work = None
    if step in ("health", "health_end"):
        health = parse_health(s)
    elif step == "sleep":
        sleep = parse_sleep(s)
        if sleep is None:
            sleep, _ = _bed_wake(s)
        if sleep is None and _NO_SLEEP.search(s):
            sleep = 0.0
    elif step == "temperature":
        temperature = parse_temperature(s)
    elif step == "time":
        stated = parse_time(s)
    else:
        work = _leftover_work(_GREETING.sub(_MARK, s))
    crisis = finding is not None and finding.level is AlertLevel.CRISIS
    # A request for staff leaves the question at every step; nothing of it is an answer.
    intent = Intent.CONSULT if not crisis and asks_to_talk(s) else None
    if intent is Intent.CONSULT:
        health = sleep = temperature = None
        stated = work = None
    return ParsedMessage(
        intent=intent,
        health=health,
        sleep_hours=sleep,
        temperature=temperature,
        stated_time=stated,
        work=work,
        concern=_worst(finding, health, sleep, temperature, at_most=bool(_AT_MOST_4.search(s))),
        words=finding,
    )


def _lemmas(text: str, analyser: Analyser | None) -> str:
    return concern.lemma_line(analyser.analyse(concern.fold(text))) if analyser else ""


def _worst(
    finding: Finding | None,
    health: int | None,
    sleep: float | None,
    temperature: float | None,
    *,
    at_most: bool = False,
) -> AlertLevel | None:
    levels = [finding.level] if finding else []
    if at_most:  # 「4時間以下」 typed or tapped
        levels.append(AlertLevel.WARNING)
    levels.extend(concern.value_levels(health=health, sleep_hours=sleep, temperature=temperature))
    return max(levels, key=lambda lv: lv.rank) if levels else None


def _afternoon(stated: time, text: str, now: time | None) -> time:
    """With no 午前/朝, 1時〜7時 are afternoon hours (nobody starts work at 3 a.m.; bedtimes are
    read apart), and a bare 「9時」 sent at 21:00 is not the morning's."""
    if stated.hour >= 12 or stated.hour == 0 or re.search(r"午前|朝|am", text, re.IGNORECASE):
        return stated
    if stated.hour <= 7:
        return stated.replace(hour=stated.hour + 12)
    if now is not None and now.hour >= 12 and stated.hour < now.hour - 3 <= stated.hour + 12:
        return stated.replace(hour=stated.hour + 12)
    return stated


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


# A sticker's keywords (LINE gives up to 15, often English) that say hello.
_GREETING_WORDS = frozenset(
    {"good morning", "morning", "hello", "hi", "hey", "howdy", "greetings", "こんにちは", "やあ"}
)


def greets(keywords: Iterable[str]) -> bool:
    """A sticker whose keywords say hello: 「おはよう」, "Good morning", "Hello" …"""
    for word in keywords:
        folded = _fold_kana(normalize(word)).casefold()
        if folded in _GREETING_WORDS or folded.startswith("おはよ"):
            return True
    return False

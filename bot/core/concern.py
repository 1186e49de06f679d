# ruff: noqa: E501 - the rule tables read best one rule a line
"""Concern tiers (DESIGN §6): which of a member's words mean staff must hear at once.

Three tiers, as data:
- crisis: suicidal or self-harm intent. A reply written for that moment, 【至急】 to staff.
- urgent: acute physical or mental danger.
- watch: strain worth a look today (つらい, しんどい, a bodily pain, no sleep).

Each rule is matched on two readings of the message, so inflections and spellings meet the same
rule: the *lemma line* (the analyser's normalised forms joined by "|": 「しにたかった」 ->
"死ぬ|たい|た|") and the *folded surface* (NFKC, katakana -> hiragana, long-vowel marks and
small-kana stretches dropped: 「シニタイ」「しにたーい」 -> "しにたい"). Surface rules also keep the
safety net up if the analyser is unavailable. A rule may name exceptions that, when they match
too, move the message down a tier (「耳が痛い話」 is an idiom; 「死ぬかと思うくらい忙しかった」 is
hyperbole): those messages are at most watch, never silent about a real crisis word elsewhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.domain import AlertLevel
from bot.core.ports import Analyser, Morpheme

CRISIS, URGENT, WATCH = AlertLevel.CRISIS, AlertLevel.URGENT, AlertLevel.WARNING


@dataclass(frozen=True)
class Rule:
    level: AlertLevel
    surface: str = ""  # regex on the folded surface
    lemmas: str = ""  # regex on the lemma line
    why: str = ""  # why this rule sits in this tier (for reviewers; never shown)


@dataclass(frozen=True)
class Finding:
    level: AlertLevel
    words: str  # the matched words, shown to staff as the alert's detail


# --- the rules --------------------------------------------------------------------------------
# Lemma-line regexes see tokens as "lemma|". (?:[^|]*\|){0,2} allows a couple of tokens between
# two words (自分|を|傷付ける|). Order inside a tier does not matter; the highest tier wins.

_ANY2 = r"(?:[^|]*\|){0,2}"
_WISH = r"(?:たい|たがる)\|"  # 〜たい in any inflection: たい, たく, たかっ -> たい

RULES: tuple[Rule, ...] = (
    # crisis: the member says they want to die, to disappear, or have hurt themselves.
    Rule(CRISIS, lemmas=rf"死ぬ\|(?:て\|(?:仕舞う|しまう)\|)?{_WISH}", surface=r"しにたい|死にたい",
         why="wish to die, any inflection (死にたい, 死にたかった, 死にたくなる)"),
    Rule(CRISIS, lemmas=r"死ぬ\|う\|", surface=r"死のう|しのう(?:か|と)",
         why="volitional 死のう: a plan, not a figure of speech"),
    Rule(CRISIS, lemmas=rf"消える\|(?:て\|(?:仕舞う|しまう)\|)?{_WISH}",
         surface=r"きえたい|消えたい|きえてしまいたい|消えてしまいたい",
         why="消えたい about oneself is a common indirect way to say 死にたい"),
    Rule(CRISIS, lemmas=rf"居る\|(?:ない|無い)\|成る\|{_WISH}", surface=r"いなくなりたい",
         why="いなくなりたい: wanting to no longer exist"),
    Rule(CRISIS, lemmas=rf"生きる\|(?:て\|居る\|)?{_WISH}(?:無い|ない)\|",
         surface=r"いきていたくない|生きていたくない|生きたくない|いきたくない",
         why="not wanting to live"),
    Rule(CRISIS, lemmas=r"生きる\|(?:て\|)?(?:居る\|)?(?:意味|価値)\|(?:が\|)?(?:無い|ない)\|",
         surface=r"生きてる意味(?:が)?ない|生きる意味(?:が)?ない|生きている意味(?:が)?ない",
         why="no reason to live"),
    Rule(CRISIS, lemmas=r"自殺\|", surface=r"自殺|じさつ", why="the word itself; see benign below"),
    Rule(CRISIS, lemmas=rf"自分\|{_ANY2}(?:傷付ける|切る|殴る)\|",
         surface=r"自分を傷つけ|自分を切|自傷", why="self-harm, done or intended"),
    Rule(CRISIS, surface=r"りすか|リスカ|りすとかっと|手首を切|手首切", why="wrist cutting"),
    Rule(CRISIS, lemmas=rf"薬\|{_ANY2}(?:沢山|一杯|全部|大量|纏める|まとめる)\|{_ANY2}飲む\|",
         surface=r"薬を?(?:たくさん|いっぱい|全部|大量に?|まとめて)飲|おーばーどーず|odした|od しちゃ",
         why="an overdose, done or planned"),
    Rule(CRISIS, lemmas=rf"首\|{_ANY2}(?:吊る|釣る)\|", surface=r"首を?(?:吊|つ)り|首つり",
         why="hanging"),
    Rule(CRISIS, lemmas=rf"飛び降りる\|{_WISH}", surface=r"飛び降りたい|とびおりたい|飛び降りよう",
         why="jumping"),
    Rule(CRISIS, lemmas=rf"(?:人生|全部|全て|何もかも)\|{_ANY2}終わる\|(?:に\|)?(?:為る|する)\|{_WISH}",
         surface=r"(?:人生|全部|すべて|何もかも)(?:を)?終わりにしたい",
         why="ending everything: said of life, not of a task"),
    Rule(CRISIS, surface=r"この世から", why="leaving this world"),
    Rule(CRISIS, lemmas=r"生きる\|て\|た\|(?:無い|ない)\|", surface=r"生きてたくない|いきてたくない",
         why="生きてたくない: the colloquial contraction of 生きていたくない"),
    Rule(CRISIS, surface=r"死にてぇ|死にてー|しにてぇ|しにてー|死にて〜", why="slang for 死にたい"),
    Rule(CRISIS, surface=r"(?:死んだ|しんだ|いなくなった|消えた)(?:ほうが|方が)[^。]{0,4}(?:まし|マシ|いい|楽|らく)",
         why="better off dead / gone"),
    Rule(CRISIS, surface=r"死ぬしか|しぬしか|生まれてこなければ|生まれてこなきゃ|うまれてこなければ",
         why="no way out but death; wishing never to have been born"),
    Rule(CRISIS, surface=r"(?:電車|線路|ホーム|車)に?(?:飛び込|とびこ)", why="jumping in front of a train"),
    Rule(CRISIS, surface=r"(?:腕|うで|手首|てくび)を?(?:切っ|きっ|切り|きり)", why="cutting oneself"),
    Rule(CRISIS, surface=r"(?<![a-z])od(?:した|しました|しちゃ|して)|おーでぃー", why="overdose (OD)"),
    Rule(CRISIS, surface=r"楽になりたい|らくになりたい", why="楽になりたい in a message is read as "
         "the wish to escape life: staff call and ask; a false alarm costs a call, a miss a life"),
    Rule(CRISIS, surface=r"(?:もう|全部|ぜんぶ)終わりにしたい|(?:もう|全部)おわりにしたい",
         why="もう終わりにしたい without a task named: ending everything"),
    # urgent: acute danger to body or mind; staff should call now.
    Rule(URGENT, lemmas=r"倒れる\|(?:そう\|)", surface=r"倒れそう|たおれそう|倒れた|たおれた",
         why="collapsing"),
    Rule(URGENT, lemmas=rf"胸\|{_ANY2}(?:痛い|苦しい)\|",
         surface=r"(?:胸|むね)が?[^、。]{0,6}?(?:痛|苦し|いたい|くるし)",
         why="chest pain can be cardiac"),
    Rule(URGENT, lemmas=rf"息\|{_ANY2}(?:苦しい|出来る\|ない|できる\|ない)", surface=r"(?:息|いき)が?(?:苦し|くるし|できな)",
         why="breathing trouble"),
    Rule(URGENT, surface=r"ぱにっく|パニック|過呼吸|かこきゅう|発作|ほっさ|けいれん|痙攣",
         why="panic, hyperventilation, seizures"),
    Rule(URGENT, surface=r"意識が|気を失|吐血|血を吐|救急車|きゅうきゅうしゃ",
         why="losing consciousness, vomiting blood, an ambulance"),
    Rule(URGENT, surface=r"助けて|たすけて", why="a cry for help: urgent at least"),
    # watch: strain worth a look today.
    Rule(WATCH, lemmas=r"(?:辛い|しんどい|苦しい)\|", surface=r"つらい|つらく|つらかっ|辛い|辛く|辛かっ|しんど|苦しい|くるしい|きつい",
         why="strain; negated forms (つらくない) are excluded below"),
    Rule(WATCH, lemmas=r"痛い\|", surface=r"痛い|痛く|痛かっ|(?:^|[、。!?,.]|が|も|は)いた(?:い|く|かっ)|痛む|痛み",
         why="a bodily complaint; idioms (耳が痛い) are excluded below"),
    Rule(WATCH, surface=r"限界|もう無理|もうむり", why="at one's limit (a bare 無理 is just 'cannot')"),
    Rule(WATCH, surface=r"えらいわ|えらいねん|(?:今日|きょう)(?:は)?えらい", why="関西弁 えらい: exhausted"),
    Rule(WATCH, surface=r"熱が(?:出|で|ある|あって)|発熱|吐き気|はきけ|めまい|頭痛|腹痛|下痢|だるい|寒気|さむけ",
         why="bodily complaints worth a look the same day"),
    Rule(WATCH, lemmas=r"寝る\|(?:て\|)?(?:てる\||居る\|)?(?:ない|無い)\|", surface=r"寝てない|ねてない|寝れてない|寝れなかった|ねれなかった|寝ていない",
         why="no sleep"),
    Rule(WATCH, lemmas=r"眠る\|(?:ない|無い)\|", surface=r"眠れな|ねむれな|一睡も|徹夜|てつや|オール",
         why="no sleep"),
)  # fmt: skip

# Words that, matched too, take the message below crisis/urgent: idioms and hyperbole, negation.
# The tier they allow at most is given per entry.
EXCEPTIONS: tuple[tuple[str, AlertLevel | None, str], ...] = (
    (r"耳(?:が|の)?(?:痛|いた)い", None, "耳が痛い: an idiom (a home truth), not pain"),
    (r"頭が?痛い(?:話|問題|ところ)|痛い(?:ところ|とこ)を?突", None, "idioms"),
    (r"(?:しぬ|死ぬ|しん|死ん)(?:か|かと|ほど|くらい|ぐらい|ってくらい)", None,
     "死ぬほど/死ぬかと思う: hyperbole"),
    (r"(?:しに|死に)そう|(?:死に|しに)ました笑|(?:死ん|しん)だ笑", None,
     "死にそう/死にました笑 about laughing, a phone or a PC: hyperbole"),
    (r"(?:消え|きえ)たい(?:くらい|ほど|ぐらい)", None, "消えたいくらい恥ずかしい: an idiom"),
    (r"(?:死に|しに|消え|きえ)たい(?:とは|って|なんて)?(?:思って|おもって)?(?:ない|ません|いない)", WATCH,
     "denied wish: not a crisis, still worth a gentle word"),
    (r"(?:前は|昔は|以前は)[^。]{0,14}(?:思って|おもって)(?:た|いた)けど[、,]?(?:今は|いまは)", WATCH,
     "a past wish, said to be over: worth a gentle word"),
    (r"(?:りすか|自傷)(?:とか|は|も)*(?:して(?:ない|いない|ません)|しない)", WATCH,
     "denied self-harm"),
    (r"(?:辛|から)い(?:カレー|ラーメン|もの|物|料理|食べ物|味|麺|鍋)", None, "辛い = spicy"),
    (r"痛い(?:出費|ミス|目に)", None, "痛い出費: a costly purchase"),
    (r"(?:おなか|お腹|腹)(?:が)?(?:すい|へっ|空い|減っ)て倒れそう", None, "hungry enough to faint: a joke"),
    (r"プチパニック|ぷちぱにっく", None, "a small fluster over a mistake"),
    (r"胸が痛む(?:ニュース|話|事件|出来事)", None, "胸が痛む: sad news"),
    (r"自殺(?:防止|予防|対策)(?:の)?(?:講習|研修|講座|勉強|ポスター)", None, "a training, not intent"),
    (r"(?:痛み|痛く|つらく|辛く|しんどく)(?:は|も)?(?:全然|ぜんぜん|まったく|特に|もう)?(?:ない|ありません|なかった)",
     None, "negated complaint"),
    (r"(?:つらい|辛い|しんどい)時期(?:も)?あった(?:けど|けれど)", None, "a hard time that is past"),
    (r"(?:痛い|しんどい|つらい|辛い)って(?:言って|いって)(?:た|いた)", None, "someone else's words"),
    (r"(?:しんどい|つらい|痛い)って(?:言う|いう)ほど(?:じゃ|では)", None, "not hard enough to say so"),
    (r"(?:慣れて|なれて|覚えて|終わらせて|片付けて)[^。]{0,4}(?:楽|らく)になりたい", None,
     "楽になりたい about a task getting easier"),
    (r"(?:痛み|頭痛|腹痛|熱|吐き気|めまい)(?:は|が|も)?(?:おさま|治ま|治っ|なおっ|引い|ひい|下が|さがっ|まし|マシ)",
     None, "a complaint that has passed"),
    (r"しにものぐるい|死に物狂い", None, "死に物狂い: with all one's might"),
    (r"(?:つらく|辛く|痛く|(?<!て)いたく|苦しく|くるしく|しんどく|きつく)(?:は)?(?:ない|なかっ|な[いか]です|ありません)", None,
     "negated: not painful / not hard"),
    (r"自殺(?:の|した人の)?(?:ニュース|報道|記事)", WATCH,
     "talk about suicide in the news: worth a gentle word, not a crisis by itself"),
    (r"(?:ファイル|データ|文字|消しゴム|電気|あかり|画面|メール|写真|音|保存|記録)(?:が|も)?(?:消え)", None,
     "things disappearing, not the member"),
    (r"(?:ぱにっく|パニック)(?:に)?(?:なりかけ|なりそう|気味)", WATCH, "near-panic: watch"),
)  # fmt: skip

_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


def _folded_pattern(pattern: str) -> re.Pattern[str]:
    """Surface patterns are written as people spell them (パニック, ニュース) and compiled in the
    folded form the text is matched in (ぱにっく, にゅす)."""
    return re.compile(pattern.translate(_KATAKANA_TO_HIRAGANA).replace("ー", "").lower())


_COMPILED = tuple(
    (
        rule,
        _folded_pattern(rule.surface) if rule.surface else None,
        re.compile(rule.lemmas) if rule.lemmas else None,
    )
    for rule in RULES
)
_EXCEPTIONS = tuple((_folded_pattern(p), cap) for p, cap, _ in EXCEPTIONS)
_STRETCH = re.compile(r"[ー〜~]+|(?<=[ぁ-ゖ])[ぁぃぅぇぉっ](?=[ぁ-ゖ]?$)")


def fold(text: str) -> str:
    """NFKC, no spaces, katakana -> hiragana, stretches dropped (しにたーい -> しにたい)."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = "".join(ch for ch in s if not ch.isspace() and unicodedata.category(ch)[0] not in "CS")
    return _STRETCH.sub("", s.translate(_KATAKANA_TO_HIRAGANA))


def lemma_line(morphemes: Sequence[Morpheme]) -> str:
    return "".join(f"{m.lemma}|" for m in morphemes)


def assess(
    text: str, analyser: Analyser | None = None, *, lemmas: str | None = None
) -> Finding | None:
    """The highest tier the member's words reach, or None. Never raises.

    Excepted spans (idioms, hyperbole, negation) are cut out before the rules run, so they
    cannot alarm, while a real crisis word elsewhere in the message still does; an exception
    with a tier of its own (死ぬほど → watch) leaves at least that tier.
    """
    if not text:
        return None
    surface = fold(text)
    original = surface
    floor: Finding | None = None
    for pattern, cap in _EXCEPTIONS:
        m = pattern.search(surface)
        if m is None:
            continue
        if cap is not None and (floor is None or cap.rank > floor.level.rank):
            floor = Finding(cap, m.group(0))
        surface = pattern.sub("、", surface)
    # hiragana spellings tokenise better than katakana ones (シニタイ is read as one noun)
    if lemmas is None or surface != original:  # the caller's lemmas are of the whole text
        lemmas = lemma_line(analyser.analyse(surface)) if analyser is not None else ""
    best = floor
    for rule, surface_re, lemma_re in _COMPILED:
        if best is not None and rule.level.rank <= best.level.rank:
            continue
        m = (surface_re.search(surface) if surface_re else None) or (
            lemma_re.search(lemmas) if lemma_re else None
        )
        if m is not None:
            best = Finding(rule.level, m.group(0).replace("|", ""))
    return best


# --- values ------------------------------------------------------------------------------------

LOW_HEALTH = 2  # 体調 2 and below worry staff; 1 is urgent
SHORT_SLEEP_HOURS = 4.0  # under this is short sleep; the 「4時間以下」 button counts too
FEVER = 37.5
HIGH_FEVER = 38.0


def health_level(value: int) -> AlertLevel | None:
    if value <= 1:
        return URGENT
    return WATCH if value <= LOW_HEALTH else None


def sleep_level(hours: float, *, at_most: bool = False) -> AlertLevel | None:
    """`at_most`: the member chose 「4時間以下」, which may be any amount up to four hours."""
    short = hours <= SHORT_SLEEP_HOURS if at_most else hours < SHORT_SLEEP_HOURS
    return WATCH if short else None


def temperature_level(value: float) -> AlertLevel | None:
    if value >= HIGH_FEVER:
        return URGENT
    return WATCH if value >= FEVER else None


def value_levels(
    *, health: int | None, sleep_hours: float | None, temperature: float | None
) -> list[AlertLevel]:
    found = [
        health_level(health) if health is not None else None,
        sleep_level(sleep_hours) if sleep_hours is not None else None,
        temperature_level(temperature) if temperature is not None else None,
    ]
    return [lv for lv in found if lv is not None]

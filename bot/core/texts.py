"""Everything the bot says, in one place: short, warm, plain Japanese (ですます).

B型 members choose their own hours; a missed report is never a fault, so nothing here scolds.
"""

from __future__ import annotations

from bot.core.domain import Choice, ContactMethod, MediaKind

# --- buttons -------------------------------------------------------------------------------

START = Choice("開始します", "start")
END = Choice("終了します", "end")
END_RESUME = Choice("終了報告のつづき", "end")  # an end time was given, the outputs not yet
ABSENT = Choice("今日は休みます", "absent")
CONSULT = Choice("相談したい", "consult")
FIX = Choice("修正する", "fix")
SUMMARY = Choice("今日の記録", "summary")
MONTH = Choice("今月の記録", "month")
HELP_BUTTON = Choice("ヘルプ", "help")
NONE_NOTE = Choice("なし", "none")
SKIP = Choice("スキップ", "skip")
CANCEL = Choice("やめる", "cancel")

# A face for each step, read before the words (LINE's labels: 20 characters at most).
HEALTH_CHOICES = (
    Choice("😄 5 とても良い", "health:5"),
    Choice("🙂 4 良い", "health:4"),
    Choice("😐 3 ふつう", "health:3"),
    Choice("😟 2 少し悪い", "health:2"),
    Choice("😣 1 悪い", "health:1"),
)
SLEEP_CHOICES = (
    Choice("4時間以下", "sleep:4"),
    Choice("5時間", "sleep:5"),
    Choice("6時間", "sleep:6"),
    Choice("7時間", "sleep:7"),
    Choice("8時間", "sleep:8"),
    Choice("9時間以上", "sleep:9"),
)
HEALTH_LABELS = {5: "とても良い", 4: "良い", 3: "ふつう", 2: "少し悪い", 1: "悪い"}

FIELD_LABELS = {
    "start_at": "開始時刻",
    "health_start": "体調(朝)",
    "sleep_hours": "睡眠",
    "temperature": "体温",
    "planned_work": "作業予定",
    "end_at": "終了時刻",
    "work_done": "作業内容",
    "outputs": "成果",
    "health_end": "体調(終了時)",
    "note": "ひとこと",
    "mode": "在宅・通所",  # the day's mode: revisions when the member or staff settle it
    "day": "利用の形",  # daily_report.flags["day"]: how the day differs from the plan
}

# --- greetings and prompts -----------------------------------------------------------------

MORNING = "おはようございます、{name}さん。作業を始めるときに教えてください。"
EVENING = "{name}さん、おつかれさまです。作業が終わったら教えてください。"
EVENING_RESUME = (
    "{name}さん、おつかれさまです。終了のご連絡ありがとうございます。"
    "記録のために、今日できたこと・進んだことを「終了報告のつづき」から教えてください。"
)
# A planned 通所 day, and the member checks in from the chat: where do they work today?
ASK_WHERE = "今日は通所(事業所に来る)の予定の日です。今日はどちらで作業しますか?"
WHERE_CHOICES = (
    Choice("きょうは在宅で作業します", "where:zaitaku"),
    Choice("通所します(事業所に行きます)", "where:tsusho"),
)
RETRY_WHERE = "すみません、うまく読み取れませんでした。下のボタンから選んでください。"
WHERE_HOME_ACK = "わかりました。今日は在宅での作業として記録します。職員にも伝えておきますね。"
WHERE_TSUSHO_ACK = "わかりました。事業所でお待ちしています。気をつけてお越しください。"
# Work reported on a day with no 在宅 planned: kept as said, never a fault; staff classify it.
UNPLANNED_DAY_ACK = (
    "今日は予定表では作業の予定がない日ですが、記録はこのまま残しますね。"
    "念のため職員にも伝えておきます。"
)
END_RESUMED = "{time}の終了報告のつづきですね。"
START_RESUMED = "{time}の開始報告のつづきですね。"
ASK_HEALTH = "今日の体調はいかがですか?"
ASK_SLEEP = "昨夜は何時間くらい眠れましたか?"
ASK_TEMPERATURE = "体温を教えてください(例: 36.5)。測っていなければ「スキップ」で大丈夫です。"
ASK_PLAN = "今日はどんな作業をする予定ですか?"
ASK_WORK_DONE = "今日はどんな作業をしましたか?"
ASK_OUTPUTS = "できたもの・進んだことを教えてください(例: 入力120件)。"
# 成果 without typing: honest common answers, a photo or a voice message (free text still works).
# 「予定どおりできた」 is offered only when the plan said how much (入力100件).
OUTPUTS_AS_PLANNED = Choice("予定どおりできた", "outputs:as_planned")
OUTPUTS_PARTWAY = Choice("途中まで", "outputs:partway")
OUTPUTS_NOT_DONE = Choice("できなかった", "outputs:not_done")
OUTPUTS_BY_PHOTO = Choice("写真で送る", "outputs:photo")
OUTPUTS_BY_VOICE = Choice("声で送る", "outputs:voice")
OUTPUTS_CHOICES = (OUTPUTS_PARTWAY, OUTPUTS_NOT_DONE, OUTPUTS_BY_PHOTO, OUTPUTS_BY_VOICE)
OUTPUTS_KEEP = Choice("このまま記録する", "outputs:keep")  # after the one request for detail
# What each button records as the 成果 (見たまま: staff read the member's own answer).
OUTPUTS_AS_PLANNED_NOTE = "予定どおりできた({plan})"
OUTPUTS_PARTWAY_NOTE = "途中まで"
OUTPUTS_NOT_DONE_NOTE = "できなかった"
ASK_OUTPUTS_PHOTO = "写真を1枚送ってください。届いたら、今日の成果として記録します。"
ASK_OUTPUTS_VOICE = (
    "入力欄の横のマイクのボタンを押したまま話して、指をはなすと送れます。"
    "届いたら、今日の成果として記録します。"
)
# The one gentle request after 「途中まで」「できなかった」 (R2 asks what was done).
ASK_DETAIL_PARTWAY = (
    "教えてくださってありがとうございます。できなかった日も、途中までの日も大切な記録です。"
    "よければ、どこまで進んだか・むずかしかったことを、文字か写真か声で教えてください。"
    "このままでも大丈夫です。"
)
# The one gentle question when 成果 reads exactly like the previous day's.
ASK_DETAIL_SAME = (
    "ありがとうございます。前回と同じ内容になっています。"
    "よければ、今日の数や進み具合をひとつ教えてください。同じでよければ、このままで大丈夫です。"
)
ASK_HEALTH_END = "いまの体調はいかがですか?"
ASK_NOTE = "ひとことあればどうぞ。なければ「なし」を押してください。"
ASK_DETAIL = (
    "ありがとうございます。記録のために、ひとつだけ具体的に教えてください(例: 何を・どのくらい)。"
)
ASK_FIX_FIELD = "どこを直しますか?"
ASK_FIX_VALUE = "{label}の正しい内容を教えてください。"

# --- confirmations -------------------------------------------------------------------------

STARTED = "{time} 開始を記録しました。無理せず、ご自分のペースでどうぞ。"
ENDED = "{time} 終了を記録しました。今日もおつかれさまでした。"
SUMMARY_TITLE = "{date} の記録"
FIXED = "{label}を「{after}」に直しました。"
ABSENCE = "わかりました。今日はゆっくり休んでください。職員にも伝えておきます。"
CONSULT_ACK = "わかりました。職員に伝えました。折り返し連絡しますので、少しお待ちください。"
CANCELLED = "わかりました。いったん終わりにします。"
START_LATER = "{time}から開始ですね。記録しました。無理せず、ご自分のペースでどうぞ。"
ABSENCE_AHEAD = "わかりました。{date}はお休みですね。職員にも伝えておきます。"
EARLY_FINISH_ACK = (
    "わかりました。今日は早めに終わるのですね。職員に伝えておきます。"
    "終わるときに「終了します」で教えてください。"
)
CONSULT_ACK_LATER = (
    "わかりました。職員に伝えました。いまは職員がいない時間のため、"
    "{when}以降に折り返し連絡します。少しお待ちください。"
)
HELLO = "おはようございます、{name}さん。始めるときは下のボタンから教えてください。"
SMALLTALK = "メッセージありがとうございます。記録するときは下のボタンからどうぞ。"
SMALLTALK_KEPT = "ありがとうございます。今日のひとことに残しておきますね。"
TIRED = "おつかれさまです。無理せず、ひと息ついてくださいね。"
# After a request to talk in the middle of a check-in: the question waits, without pressure.
CONSULT_RESUME = "記録の続きは、あとからでも大丈夫です。"

# --- a member in distress: written for that moment, never reused from routine replies ------

CRISIS = (
    "{name}さん、メッセージを読みました。いま、とてもつらい気持ちなのですね。\n"
    "すぐに職員に知らせています。あなたはひとりではありません。"
)
CRISIS_STAFF_LATER = (
    "いまは職員がいない時間のため、職員からの連絡は{when}以降になるかもしれません。"
)
CRISIS_CONTACTS = "いますぐ誰かと話したいときは、こちらに電話できます。"
CRISIS_CONTACT_LINE = "・{name} {phone}{hours}"
CRISIS_DANGER = "命の危険を感じたら、迷わず119番に電話してください。"
URGENT_ACK = (
    "大丈夫ですか。すぐに職員に伝えました。無理に動かず、安全なところで休んでください。"
    "危ないと感じたら、迷わず119番に電話してください。"
)
WATCH_ACK = "教えてくださってありがとうございます。職員にも伝えました。無理はしないでくださいね。"
LOW_HEALTH_ACK = "体調がすぐれないのですね。職員にも伝えました。無理のない範囲で大丈夫です。"
POOR_HEALTH_ACK = (
    "体調が悪いのですね。職員にすぐ伝えました。つらいときは作業をお休みしても大丈夫です。"
)
SHORT_SLEEP_ACK = "あまり眠れなかったのですね。職員にも伝えました。今日はゆっくりのペースでどうぞ。"
FEVER_ACK = "熱があるのですね。職員に伝えました。無理をせず、体を休めてください。"
EXPIRED = "前の入力は時間が経ったので、いったん区切りました。入力済みの内容は記録されています。"

# --- gentle re-asks ------------------------------------------------------------------------

RETRY_HEALTH = "すみません、うまく読み取れませんでした。下のボタンから選んでください。"
RETRY_SLEEP = (
    "すみません、時間がうまく読み取れませんでした。「6時間半」や「6.5」のように教えてください。"
)
SLEEP_OUT_OF_RANGE = "{hours}時間で合っていますか? もう一度、眠れた時間を教えてください。"
RETRY_TEMPERATURE = "すみません、体温がうまく読み取れませんでした。「36.5」のように教えてください。"
RETRY_TIME = (
    "すみません、時刻がうまく読み取れませんでした。「9時半」や「9:30」のように教えてください。"
)
FUTURE_TIME = "{time}はまだ先のようです。始めた(終えた)時刻をもう一度教えてください。"
RETRY_TEXT = "すみません、もう一度教えてください。"
# 開始 again (the rich menu is always there) once the start report is complete.
ALREADY_STARTED = (
    "今日は{time}に開始を記録しています。作業が終わったら「終了します」で教えてください。"
    "直すときは「修正する」を押してください。"
)
ALREADY_ENDED = "今日は{time}に終了を記録しています。直すときは「修正する」を押してください。"
NOTHING_TO_FIX = "今日はまだ記録がありません。始めるときは「開始します」を押してください。"

HELP = (
    "Nippo の使い方です。\n"
    "・始めるとき: 「開始します」(例: 開始 体調4 睡眠7 データ入力)\n"
    "・終わるとき: 「終了します」(例: 終了 入力120件 体調3)\n"
    "・休むとき: 「今日は休みます」\n"
    "・話したいとき: 「相談したい」\n"
    "・直したいとき: 「修正」\n"
    "・記録を見るとき: 「今日の記録」「今月の記録」"
)
MENU_PROMPT = "記録や連絡は、下のボタンからもできます。"
# A member's own view of their records (今日の記録 / 今月の記録): what was said, never a
# comparison or a target, so nothing here can read as a judgement.
WORKED_LABEL = "作業時間"
WORKED_SPAN = "{hours}時間{minutes}分"
MEMBER_MONTH_TITLE = "{month}月の記録"
MEMBER_MONTH_DAYS = (
    "{month}月は、これまでに{days}日、作業の記録があります。"
    "記録してくださって、ありがとうございます。ご自分のペースでどうぞ。"
)
MEMBER_MONTH_NONE = (
    "{month}月の作業の記録は、まだありません。作業をする日は「開始します」から教えてください。"
)
MEMBER_MONTH_DAY = "{md}({weekday})"
MEMBER_MONTH_TIMES = "{start}〜{end}"
UNKNOWN = "ありがとうございます。下のボタンから選ぶか、「ヘルプ」と送ってください。"

# --- linking an account --------------------------------------------------------------------

LINK_PROMPT = (
    "はじめまして。Nippo です。\n"
    "職員から受け取った6桁の番号を送ってください。番号を送ると、記録を始められます。"
)
LINK_WRONG = "番号が確認できませんでした。もう一度、6桁の番号を送ってください。"
LINK_LOCKED = (
    "番号の入力が続けて確認できませんでした。お手数ですが、職員に新しい番号をお尋ねください。"
)
LINK_DONE = "{name}さん、登録できました。これからよろしくお願いします。"
WELCOME_BACK = "{name}さん、おかえりなさい。またよろしくお願いします。"
# Linking is paused for everyone for a while (too many wrong codes across the installation):
# the member did nothing wrong, so this only asks them to try again later.
LINK_PAUSED = (
    "ただいま番号の受付を一時的にお休みしています。"
    "お手数ですが、1時間ほどたってから、もう一度番号を送ってください。"
)

STICKER = "スタンプありがとうございます。"
# The LINE rich menu (adapters/line/richmenu.py): six areas, 3 × 2, in reading order; the big
# word on the image, a short line under it, and the button the tap is (its label is what the
# member's chat shows).
RICH_MENU_AREAS = (
    ("開始", "作業をはじめる", START),
    ("終了", "作業をおえる", END),
    ("休み", "今日は休む", ABSENT),
    ("相談", "職員と話したい", CONSULT),
    ("今日の記録", "記録を見る", SUMMARY),
    ("ヘルプ", "使い方", HELP_BUTTON),
)
RICH_MENU_CHAT_BAR = "メニュー"
# What the member sent, as the answers about it name it ({what} below).
MEDIA_WORDS = {
    MediaKind.PHOTO: "写真(ファイル)",
    MediaKind.FILE: "写真(ファイル)",
    MediaKind.AUDIO: "声のメッセージ",
    MediaKind.VIDEO: "動画",
}
PHOTO_SAVED = "写真(ファイル)を今日の記録に保存しました。ありがとうございます。"
EVIDENCE_SAVED = {
    MediaKind.PHOTO: PHOTO_SAVED,
    MediaKind.FILE: PHOTO_SAVED,
    MediaKind.AUDIO: (
        "声のメッセージを今日の記録に保存しました。ありがとうございます。職員があとで聞きますね。"
    ),
    MediaKind.VIDEO: "動画を今日の記録に保存しました。ありがとうございます。職員があとで見ますね。",
}
# Sent as the answer to 成果: recorded as such, and the member knows staff will write it up.
EVIDENCE_AS_OUTPUTS = {
    MediaKind.PHOTO: "写真をありがとうございます。今日の成果として記録しました。",
    MediaKind.FILE: "ファイルをありがとうございます。今日の成果として記録しました。",
    MediaKind.AUDIO: (
        "声で教えてくださって、ありがとうございます。今日の成果として記録しました。"
        "職員があとで聞いて、文字に書きおこしますね。"
    ),
    MediaKind.VIDEO: (
        "動画をありがとうございます。今日の成果として記録しました。"
        "職員があとで見て、記録に書きおこしますね。"
    ),
}
# The 成果 it stands as in the 日報 (staff see at once that there is something to listen to).
EVIDENCE_OUTPUTS_NOTE = {
    MediaKind.PHOTO: "写真で報告",
    MediaKind.FILE: "ファイルで報告",
    MediaKind.AUDIO: "音声で報告",
    MediaKind.VIDEO: "動画で報告",
}
EVIDENCE_SECONDS = "({seconds}秒)"
# Content from a member whose consent does not cover keeping evidence (APPI, 日立市 (1)):
# thanked, told plainly why it was not kept and how to change that; never a fault of theirs.
EVIDENCE_NOT_KEPT_NO_CONSENT = (
    "{what}を送ってくださり、ありがとうございます。"
    "{what}を記録として保存することへの同意をまだいただいていないため、今回は保存していません。"
    "送ってくださったことは記録しておきます。保存を希望されるときは、職員にお声がけください。"
)
PHOTO_NOT_KEPT_NO_CONSENT = EVIDENCE_NOT_KEPT_NO_CONSENT.format(what="写真(ファイル)")
# The 支援記録 line staff see instead of the content.
EVIDENCE_NOT_KEPT = "{what}が送られました。証拠保存の同意がないため保存していません。"
EVIDENCE_NOT_KEPT_NOTE = EVIDENCE_NOT_KEPT.format(what="写真(ファイル)")
UNSUPPORTED = "すみません、この種類のメッセージには対応していません。文字かボタンで教えてください。"
STALE_BUTTON = "このボタンは前の日のものです。今日の記録は下のボタンからどうぞ。"

# --- to staff ------------------------------------------------------------------------------

CONCERN_TITLES = {
    "low_health": "体調がすぐれないとの回答",
    "short_sleep": "睡眠が短いとの回答",
    "fever": "発熱の可能性",
    "crisis": "命に関わるおそれのあるメッセージ",
    "distress": "つらさを訴えるメッセージ",
    "early_finish": "早めに終わるとの連絡",
    "consult": "相談の希望",
    "missed_start": "開始の連絡がありません",
    "missed_end": "終了の連絡がありません",
    "absence": "お休みの連絡",
    "unplanned_day": "予定にない日の報告",
    "tsusho_day_at_home": "通所予定の日に在宅で作業",
}
WEEKDAY_NAMES = "月火水木金土日"
WHEN_TODAY = "今日の{time}"
WHEN_TOMORROW = "あした{time}"
WHEN_DAY = "{month}/{day}({weekday}){time}"
STAFF_ALERT = "【{title}】{member}さん({date}) {detail}"
STAFF_INFO = "【お知らせ】{member}さん: {title}({date}) {detail}"
# A member's photo, file, voice or video for staff (Slack): who, when and what came, never
# what it says; the file itself only as consent and the disclosure setting allow.
STAFF_EVIDENCE = "【記録が届きました】{member}さん({date})から{what}が届きました。"
STAFF_MEDIA_WORDS = {
    MediaKind.PHOTO: "写真",
    MediaKind.FILE: "ファイル",
    MediaKind.AUDIO: "声のメッセージ",
    MediaKind.VIDEO: "動画",
}
STAFF_EVIDENCE_AS_OUTPUTS = "今日の成果の報告です。内容を日報の成果に書きおこしてください。"
STAFF_EVIDENCE_ELSEWHERE = (
    "同意の範囲・開示の設定により、Slackには載せていません。"
    "`nippo export evidence` で確認できます。"
)
STAFF_CRISIS = "【至急】{title} {member}さん({date}) {detail}"
# Said to the member, once, when a staff member takes their alert (「対応します」).
ALERT_TAKEN_MEMBER = "{staff}さんが確認しました。このあと連絡します。"
ALERT_TAKEN_MEMBER_CRISIS = (
    "{staff}さんが確認しました。このあと連絡します。"
    "知らせてくださって、ありがとうございます。少しだけ待っていてくださいね。"
)
# Linked accounts (bot/services/accounts.py): staff notices, `/nippo accounts|unlink` answers.
PLATFORM_LABELS = {"line": "LINE", "slack": "Slack", "console": "コンソール"}
# How staff reached a member, as on the forms: what staff type and what records print.
CONTACT_METHOD_LABELS = {
    ContactMethod.PHONE: "電話",
    ContactMethod.VISIT: "訪問",
    ContactMethod.TSUSHO: "通所",
    ContactMethod.MESSAGE: "メッセージ",
    ContactMethod.VIDEO: "ビデオ",
    ContactMethod.ICT: "ICT",
    ContactMethod.OTHER: "その他",
}
# A 支援記録's 手段: the platform a member wrote on, or how staff reached them.
CHANNEL_LABELS = {
    **PLATFORM_LABELS,
    **{method.value: label for method, label in CONTACT_METHOD_LABELS.items()},
}
STAFF_ACCOUNT_REPLACED = (
    "【連携の切り替え】{member}さんの{platform}が新しいアカウントで連携されました。"
    "前のアカウント({count}件)の連携は解除しました。"
    "心当たりがない場合は、本人に確認してください。"
)
STAFF_LINK_PAUSED = (
    "【連携の一時停止】この1時間に、連携コードの入力の失敗が{count}回ありました。"
    "念のため、新しいアカウントの連携を{until}ごろまで止めています"
    "(すでに連携している利用者の記録には影響ありません)。"
    "心当たりがない場合は、発行したコードの扱いをご確認ください。"
)


# --- records: the month's compliance view (bot/queries/compliance_report.py) ---------------

MONTH_TITLE = "{year}年{month}月の記録の確認({profile})"
MONTH_NOT_IN_FORCE = "{profile}の取扱いは{since}からのため、この月は{base}で確認しています。"
MONTH_SHARE = "在宅利用者 {users}人 / 定員 {capacity}人(上限 {limit}人)"
MONTH_MEMBER = (
    "- {name}: 在宅 {zaitaku}日(連絡2回確認済み {confirmed}日{late})、通所 {tsusho}日、"
    "利用 {used}日{limit}、週の評価 {weekly}/{weeks}週、月の評価 {monthly}"
)
MONTH_CONFIRMED_LATE = "、事後記録でそろった日 {days}日"
MONTH_NOT_DONE = "未実施"
MONTH_LATE_MARK = "(事後記録)"
MONTH_SHEET_INCOMPLETE_MARK = "(記入もれあり)"
MONTH_DAYS_EXCEPTION_MARK = "(原則の日数の例外あり)"
MONTH_DAYS_EXCEPTION = "原則の日数の例外: {text}"
MONTH_ALL_OK = "気になる点はありません。"
MONTH_DEADLINES = "近づいている期限:"
COMPLIANCE_FINDINGS = {
    "contacts_missing": "{day} 1日2回の連絡の記録がそろっていません",
    "confirmed_late": (
        "{day} 1日2回の連絡は事後記録を含めてそろっています(当日中の記録ではありません)"
    ),
    "start_check_missing": "{day} 作業開始時の確認(開始時間と作業内容)の支援記録がありません",
    "end_check_missing": "{day} 作業終了時の確認(終了時間と成果)の支援記録がありません",
    "unplanned_day": "{day} 予定にない日の報告です。在宅・通所のどちらの利用か、確認をお願いします",
    "tsusho_day_at_home": "{day} 通所の予定の日を在宅で利用しています(計画にない変更です)",
    "flagged_entry": "{day} 確認をおすすめする記録があります: {detail}",
    "not_billable": "{day} 在宅支援の届出が受理される前の在宅利用です(報酬算定の対象外)",
    "notice_unknown": "在宅支援の届出の受理日が登録されていません{detail}",
    "weekly_evaluation_missing": "{day}からの週の評価の記録がありません",
    "weekly_evaluation_late": "{day}からの週の評価は事後記録です(当日中の記録ではありません)",
    "monthly_evaluation_missing": "今月の訪問・通所による評価(評価シート)がありません",
    "monthly_evaluation_late": "{day}の月の評価は事後記録です(当日中の記録ではありません)",
    "sheet_incomplete": "{day}の評価シートに記入のない項目があります: {detail}",
    "tsusho_week_missing": "{day}からの週に通所の日がありません",
    "too_many_days": "利用日数が原則の日数(その月の日数−8日)を超えています({detail}日)",
    "outside_approval": "{day} 在宅利用の承認期間の外です",
    "approval_unknown": "在宅利用の承認期間が登録されていません",
    "approval_too_long": "在宅利用の承認期間が承認の種類の上限を超えています({detail})",
    "zaitaku_share": "在宅利用者が定員に対する上限を超えています({detail}人)",
    "weekly_evaluation_due": "{member}さん: 今週の評価がまだです({day}まで)",
    "monthly_evaluation_due": "{member}さん: 今月の訪問・通所による評価がまだです({day}まで)",
    "approval_expiring": "{member}さん: 在宅利用の承認期間が{day}で終わります{detail}",
    "monthly_report_due": "{detail}分の在宅就労支援対象者リスト(様式在-1)の提出期限は{day}です",
}
APPROVAL_KINDS = {"year": "1年", "three_months": "3か月以内・更新不可"}
APPROVAL_TOO_LONG_DETAIL = "{kind}の承認で {start}〜{until}"
APPROVAL_NOT_RENEWABLE = "(3か月以内の承認は更新できません)"
NOTICE_SUBMITTED = "({day}に提出済み)"
# Field names of flagged 支援記録 entries (日報 and 評価シート fields have their own labels).
RECORD_FIELD_LABELS = {"content": "支援記録の内容", "advice": "確認時の助言"}
# Approval periods as staff enter them (nippo member set; 東大阪市 【認定期間】).
APPROVAL_ORDER = "承認期間の終わり({until})が始まり({start})より前になっています。"
APPROVAL_THREE_MONTHS_TOO_LONG = (
    "3か月以内の承認は「就労継続支援B型 1回3か月以内」です(東大阪市 【認定期間】)。"
    "{start}からなら{limit}までにしてください。"
)
APPROVAL_THREE_MONTHS_RENEWAL = (
    "3か月以内の承認は「（更新不可。再度利用するためには3か月以上の期間が必要。）」です"
    "(東大阪市 【認定期間】)。前の承認は{until}までなので、次は{after}より後から登録できます。"
)
APPROVAL_KIND_UNKNOWN = "--approval-kind は year か three_months です({kind}ではありません)。"
NOTICE_ORDER = "届出の受理日({accepted})が提出日({submitted})より前になっています。"
# Mistakes in a 同意書, an emergency contact or 担当 (the nippo commands and the console).
CONSENT_DAY_IN_FUTURE = "{day}はまだ先の日付です。今日までの日付を入れてください。"
CONSENT_NONE_TO_WITHDRAW = "{name}さんには{day}の時点で撤回できる同意がありません。"
CONTACT_BAD_PHONE = (
    "「{phone}」は電話番号として読み取れませんでした。数字とハイフンで入れてください"
    "(例: 090-1234-5678)。"
)
CONTACT_NAME_OR_PHONE = "名前か電話番号のどちらかを入れてください(住所は名前の欄に入れます)。"
ASSIGN_SAME_SUBSTITUTE = "代理には担当とは別の職員を選んでください。"
ASSIGN_OTHER_FACILITY = "{name}さんはほかの事業所の職員です。"
# The managers' push ahead of an approval's end (bot/services/digests.py; once per member and end).
APPROVAL_EXPIRING_TITLE = "📅 在宅利用の承認期間"
APPROVAL_EXPIRING_NOTICE = (
    "{member}さんの在宅利用の承認期間は{until}までです(あと{days}日)。"
    "更新の手続きや、その後の利用の予定をご確認ください。{note}"
)

# --- scheduler: reminders, escalations, digest (bot/services/ticks.py) ------------------------

MORNING_AGAIN = (
    "{name}さん、今日の作業は始められそうですか? 始めるとき・お休みするときは、"
    "下のボタンから教えてください。"
)
MISSED_START_DETAIL = "予定の開始 {planned} から{minutes}分、連絡がありません。"
MISSED_START_CALL = (
    "予定の開始 {planned} から{minutes}分、連絡がありません。電話で確認してください。"
)
MISSED_END_DETAIL = "予定の終了 {planned} から{minutes}分、終了の連絡がありません。"
MISSED_END_PARTIAL_DETAIL = (
    "{ended} に終了の連絡はありましたが、予定の終了 {planned} から{minutes}分、"
    "成果(できたこと)の報告がまだです。"
)
UNPLANNED_DAY_DETAIL = (
    "在宅の予定がない日に作業の報告がありました。記録はそのまま残しています。"
    "この日の扱い(在宅・通所・利用なし)を確認してください。"
)
TSUSHO_AT_HOME_DETAIL = (
    "通所の予定の日ですが、本人から「今日は在宅で作業します」と連絡がありました。"
)
# `nippo report classify`: staff say what a flagged day was (bot/services/days.py).
DAY_MODE_LABELS = {"zaitaku": "在宅", "tsusho": "通所", "off": "利用なし(休み)"}
DAY_CLASSIFIED = "職員が「{mode}」の日と確認しました(理由: {reason})"
RESOLVED_START = (
    "【連絡がありました】{member}さん({date}) {what}。開始の未連絡アラートを解決にしました。"
)
RESOLVED_END = (
    "【連絡がありました】{member}さん({date}) 終了の連絡がありました。"
    "終了の未連絡アラートを解決にしました。"
)
RESOLVED_WHAT_START = "{time} に開始の連絡"
RESOLVED_WHAT_ABSENT = "お休みの連絡"
REMINDER_RECORD = "リマインド送信({phase} {step}回目)"
REMINDER_PHASES = {"start": "開始", "end": "終了"}

DIGEST_TITLE = "【本日のまとめ】{date} 在宅利用者 {count}名"
DIGEST_NONE = "本日の在宅利用者はいません。"
DIGEST_STATUS = {
    "open": "連絡なし",
    "started": "開始のみ(終了の連絡なし)",
    "ending": "終了報告の途中(成果の報告なし)",
    "ended": "終了",
    "absent": "お休み",
}
DIGEST_LINE = "・{member}: {status}{times}"
DIGEST_FLAG = "    ⚠ {label}: {reason}"
DIGEST_SIGN_OFF = "内容を確認したら「確認しました」を押してください。"
EVALUATION_WEEKLY = "【評価の予定】今週({period}〜)の週1回の評価がまだの利用者: {members}"
EVALUATION_MONTHLY = "【評価の予定】{period}の月1回の評価(訪問・通所)がまだの利用者: {members}"
# Untaken crisis/urgent alerts and 相談 re-notify (bot/services/escalation.py); digests list them.
RENOTIFY_HEAD = (
    "🔁 *{level}のアラートに、まだ対応する人が決まっていません*(発生から{duration})。"
    "確認できる方は「対応します」を押してください。"
)
RENOTIFY_CONSULT_HEAD = (
    "🔁 *相談の折り返しがまだです*(受付から営業時間で{duration})。"
    "本人には「折り返し連絡します」と伝えています。「対応します」を押してください。"
)
RENOTIFY_TEXT = "【再通知】{title} {member}さん(発生から{duration})"
DIGEST_ALERTS_HEAD = "未解決のアラート {count}件"
DIGEST_ALERT_GROUPS = {
    "crisis": "🆘 至急",
    "urgent": "🔴 緊急",
    "warning": "🟠 注意",
    "other": "🔵 相談・お知らせ",
}
DIGEST_ALERT_LINE = "・{member}さん: {title}({since}〜) {state}"
DIGEST_ALERT_OPEN = "⚠ 未対応"
DIGEST_ALERT_TAKEN = "👤 {name}さんが対応中"

# --- LINE front door -----------------------------------------------------------------------

EVIDENCE_FAILED = "すみません、{what}を受け取れませんでした。お手数ですが、もう一度送ってください。"
PHOTO_FAILED = EVIDENCE_FAILED.format(what="写真(ファイル)")
EVIDENCE_TOO_LARGE = (
    "すみません、{what}が大きすぎて保存できませんでした。小さく(声や動画は短く)して送ってください。"
)
PHOTO_TOO_LARGE = EVIDENCE_TOO_LARGE.format(what="写真(ファイル)")
CARD_EMPTY = "まだ記録はありません。"
# The badge in a card's colour band (never colour alone): by bot.core.domain.CardTone.
CARD_BADGES = {
    "plain": "記録",
    "start": "開始",
    "end": "終了",
    "concern": "無理せず、ゆっくりどうぞ",
}
QUOTA_WARNING = (
    "【LINE送信数のお知らせ】今月のプッシュ送信が上限の{percent}%に達しました"
    "({used}/{limit}通)。このままのペースだと、今月は約{projected}通になる見込みです。"
    "上限を超えるとリマインドが届かなくなります。プランの見直しをご検討ください。"
)

# --- Slack: staff and managers -------------------------------------------------------------

SLACK_NOT_STAFF = (
    "すみません、Nippo のコマンドは登録済みの職員だけが使えます。管理者に登録を依頼してください。"
)
SLACK_HELP = (
    "*Nippo のコマンド*\n"
    "`/nippo status [YYYY-MM-DD]` その日の在宅の状況(自分だけに表示)\n"
    "`/nippo status mine` 自分が担当する利用者だけの状況\n"
    "`/nippo status share` 状況を職員用チャンネルに共有(管理者)\n"
    "`/nippo tomorrow` 次の営業日の在宅の予定\n"
    "`/nippo report 利用者 [YYYY-MM-DD]` 1日分の日報と修正履歴\n"
    "`/nippo week [利用者]` 直近7日間\n"
    "`/nippo alerts` 未対応のアラート\n"
    "`/nippo link 利用者` 連携コードの発行\n"
    "`/nippo help` この説明"
)
SLACK_UNKNOWN_COMMAND = (
    "「{word}」というコマンドはありません。`/nippo help` で使い方を確認できます。"
)
SLACK_BAD_DATE = "日付は YYYY-MM-DD の形で指定してください(例: 2026-07-01)。"
SLACK_NEED_MEMBER = "利用者の名前を指定してください(例: `/nippo {word} 山田`)。"
SLACK_NO_MEMBER = "「{query}」に当てはまる利用者が見つかりません。"
SLACK_AMBIGUOUS = (
    "「{query}」に当てはまる利用者が複数います。もう少し詳しく指定してください: {names}"
)
SLACK_LINK_CODE = (
    "{name}さんの連携コードは *{code}* です(24時間有効・1回限り)。"
    "LINE または Slack の DM で Nippo に送ってもらってください。"
)
SLACK_HELP_ACCOUNTS = (
    "\n`/nippo accounts 利用者` 連携しているアカウントの一覧\n"
    "`/nippo unlink 利用者 [line|slack|all]` アカウントの連携を解除(管理者)"
)
SLACK_ACCOUNTS_TITLE = "{name}さんのアカウント"
SLACK_ACCOUNTS_NONE = "{name}さんには、連携しているアカウントがありません。"
SLACK_ACCOUNT_LINE = "・{platform} (id {id}): {state} 連携 {since} / 最後のメッセージ {seen}"
SLACK_ACCOUNT_LINKED = "連携中"
SLACK_ACCOUNT_BLOCKED = "連携中(ブロック中)"
SLACK_ACCOUNT_UNLINKED = "解除済み({when}・{reason})"
SLACK_ACCOUNT_REASONS = {"replaced": "新しいアカウントに切り替え", "staff": "職員が解除"}
SLACK_UNLINKED = "{name}さんの{platforms}の連携を解除しました({count}件)。"
SLACK_UNLINK_NOTHING = "{name}さんには、解除できる連携がありません。"
SLACK_UNLINK_WHICH = (
    "{name}さんは複数のアカウントで連携しています({platforms})。"
    "`/nippo unlink {name} line` のように指定するか、すべて解除するときは `all` を付けてください。"
)
SLACK_STAFF_DM = (
    "職員の方はこちらでは記録できません。`/nippo help` でコマンドを確認できます。"
    "アプリのホームタブでは今日の状況が見られます。"
)

STATUS_LABELS = {
    "open": "未報告",
    "started": "作業中",
    "ending": "終了報告の途中",
    "ended": "終了",
    "absent": "休み",
}
LEVEL_LABELS = {"crisis": "至急", "urgent": "緊急", "warning": "注意", "info": "お知らせ"}
BOARD_TITLE = "{date} 在宅の状況({facility})"
BOARD_COUNT = "在宅 {total}名 / 作業中 {started} / 終了 {ended} / 休み {absent} / 未報告 {missing}"
BOARD_COUNT_ENDING = " / 終了報告の途中 {ending}"  # shown when some day's end lacks its outputs
BOARD_EMPTY = "この日に在宅予定の利用者はいません。"
BOARD_MISSING = "⚠ 開始の連絡がありません({duration}経過)"
BOARD_MISSING_PAST = "⚠ 報告がありません"
BOARD_CONTINUED = "({part}/{parts})"
BOARD_MINE = " 担当のみ"
BOARD_GROUPS = {  # the board's groups, problems first (bot.queries.board.Standing)
    "alert": "至急・緊急のアラート",
    "missing": "未報告",
    "worrying": "気になる回答",
    "working": "作業中",
    "upcoming": "これから",
    "ended": "終了",
    "absent": "休み",
}
BOARD_HEALTH = "体調{health}"
BOARD_OTHER_ALERTS = "ほかの未対応のアラート {count}件"
PLAN_BOARD_TITLE = "{date} 在宅の予定({facility})"
PLAN_BOARD_COUNT = "在宅の予定 {total}名"
ALERTS_HEADER = "未対応のアラート {count}件"
NO_ALERTS = "未対応のアラートはありません。"
PLANNED = "予定 {time}"
NOT_YET = "—"
REPORT_TITLE = "{name}さん {date} の日報"
REVISIONS_HEADER = "修正履歴"
REVISION_LINE = "{time} {label}: {before} → {after}({source})"
REVISION_SOURCES = {
    "member": "本人",
    "member_correction": "本人が修正",
    "staff_edit": "職員が修正",
    "staff_contact": "職員が電話などで確認",
    "sign_off": "職員が確認(サイン)",
    "sign_off_voided": "修正により確認を取り消し",
    "staff_classify": "職員が日の扱いを確認",
}
WEEK_TITLE = "{first}〜{last} の記録"
WEEK_MARKS = {
    "ended": "○",
    "ending": "▲",
    "started": "△",
    "absent": "休",
    "open": "⚠",
    "off": "・",
}
WEEK_LEGEND = "○ 終了 / ▲ 終了報告の途中 / △ 開始のみ / 休 休み / ⚠ 報告なし / ・ 予定なし"

ALERT_TAKE = "対応します"
ALERT_DONE = "対応済み"
ALERT_SINCE = "発生 {time}"
ALERT_SINCE_LABEL = "発生"
ALERT_DIGEST_TITLE = "アラートが {count}件 届いています"
# One member's alerts of one day share a message; what joins it is noted in its thread.
MEMBER_DAY_TITLE = "{name}さん {date} のアラート({count}件)"
ALERT_JOINED_NOTE = "➕ {time} 追加: {what}"
ALERT_JOINED_MORE = " ほか{count}件"
ALERT_TAKEN_BY = "👤 {name}さんが対応中({time}〜)"
ALERT_RESOLVED_BY = "✅ {name}さんが対応済み({time}) {resolution}"
ALERT_RESOLVED_BY_REPORT = "✅ 本人から連絡があり解消({time})"
ALERT_ALREADY_TAKEN = "このアラートはすでに{name}さんが対応しています。"
ALERT_ALREADY_DONE = "このアラートはすでに対応済みです。"
ALERT_NOT_YOURS = "このアラートは表示できません。"
ALERT_LATEST = "最新の回答"
# Urgent and crisis alerts carry the member's emergency contacts (staff-only channel).
ALERT_EMERGENCY_CONTACTS = "緊急連絡先"
ALERT_NO_EMERGENCY_CONTACTS = "緊急連絡先は登録されていません(nippo member emergency-contact add)。"
# The facility shows details in Slack, but this member's consent does not cover it (APPI).
ALERT_DETAILS_NEED_CONSENT = (
    "この方はSlackでの詳細表示への同意が記録されていないため、回答の内容は表示していません。"
)
DELIVERY_FAILED_TITLE = "⚠ 利用者へのメッセージが届きませんでした"
QUOTA_WARNING_TITLE = "⚠ LINE の送信数が上限に近づいています"
RESOLVE_TITLE = "対応の記録"
RESOLVE_SUBMIT = "記録する"
RESOLVE_CLOSE = "やめる"
RESOLVE_INTRO = "{name}さん: {title}"
RESOLVE_METHOD = "連絡方法"
RESOLVE_OUTCOME = "結果・メモ"
RESOLVE_OUTCOME_HINT = "例: 電話で体調を確認。午後は休むとのこと。"

HOME_MINE = "あなたが対応中のアラート"
HOME_MINE_NONE = "対応中のアラートはありません。"
HOME_MORE = "続きは `/nippo status` で確認できます。"
# App Home as the staff's workspace (issue #19): a day to look at, alerts, 担当, quick actions.
HOME_HEAD = "*{facility}*  {date}"
HOME_DATE_PLACEHOLDER = "表示する日を選ぶ"
HOME_DATE_HINT = "日付を選ぶと、その日の状況を表示します(先の日は在宅の予定です)。"
HOME_ALERTS_MORE = "ほか{count}件は `/nippo alerts` で確認できます。"
HOME_ASSIGNED = "担当の利用者"
HOME_ASSIGNED_NONE = "担当の利用者は登録されていません。"
HOME_ASSIGNED_OFF = "⚪ {name}  この日は在宅の予定がありません"
HOME_SUBSTITUTE = "(代理)"
HOME_LOG_BUTTON = "連絡を記録"
HOME_EVAL_BUTTON = "評価を開く"
HOME_EXPORT_PLACEHOLDER = "今月の記録を出力"
HOME_EXPORT_KINDS = {
    "nippo": "日報",
    "support-records": "支援記録",
    "revisions": "修正履歴",
    "zaitaku-list": "在宅就労支援対象者リスト",
    "eval-sheet": "評価シート",
}
HOME_EXPORT_SENT = "ファイルはこのアプリのメッセージタブ(DM)に送りました。"
HOME_WEB_BUTTON = "Webで開く"
HOME_MEMBER_LABEL = "利用者"
HOME_NO_MEMBERS = "利用者がまだ登録されていません。"
HOME_CONTACT_TITLE = "連絡の記録"
HOME_CONTACT_TIME = "連絡した時刻(今日)"
HOME_CONTACT_HINT = "例: 電話で体調を確認。午後から作業を再開するとのこと。"
HOME_CONTACT_EMPTY = "話したことや確かめたことを書いてください。"
HOME_EVAL_TITLE = "評価を開く"
HOME_EVAL_KIND = "評価の種類"
HOME_NEXT = "次へ"

# --- Slack: staff answer the member from an alert (#19) ------------------------------------

STAFF_MESSAGE_BUTTON = "メッセージを送る"
STAFF_MESSAGE_TITLE = "メッセージを送る"
STAFF_MESSAGE_SUBMIT = "送る"
STAFF_MESSAGE_INTRO = (
    "{name}さんに{platform}でメッセージを送ります。最後に「({staff}より)」と添えて届きます。"
)
STAFF_MESSAGE_TEMPLATE = "文例から選ぶ"
STAFF_MESSAGE_TEMPLATES = (
    "お電話してもよいですか?",
    "無理せず休んでくださいね",
    "ご連絡ありがとうございます。様子を教えてくださいね。",
)
STAFF_MESSAGE_TEXT = "送る文章"
STAFF_MESSAGE_HINT = "文例を選ぶとここに入ります。書き直してから送れます。"
STAFF_MESSAGE_EMPTY = "送る文章を入力してください。"
STAFF_MESSAGE_SIGNED = "{text}\n({staff}より)"
STAFF_MESSAGE_SENT = "{name}さんにメッセージを送りました。支援記録にも残しています。"
STAFF_MESSAGE_NO_ACCOUNT = (
    "{name}さんには連携済みのアカウントがないため、送れませんでした。電話などで連絡してください。"
)
STAFF_MESSAGE_RECORD = "アラート「{title}」についてメッセージを送信: {text}"
# The alert's thread: the conversation in one place (the member's words as disclosure allows).
THREAD_STAFF_SENT = "✉️ {staff}さんがメッセージを送りました({time})\n{text}"
THREAD_STAFF_SENT_SHORT = "✉️ {staff}さんがメッセージを送りました({time})"
THREAD_MEMBER_SAID = "💬 {name}さんから({time})\n{text}"
THREAD_MEMBER_WITHHELD = (
    "💬 {name}さんから返信がありました({time})。"
    "内容は、事業所の設定または本人の同意によりSlackには表示していません。"
)
# Staff write to a member from the board or the report view (no alert), and log a call.
STAFF_MESSAGE_PICK = "メッセージを送る相手"
STAFF_MESSAGE_RECORD_DIRECT = "メッセージを送信: {text}"
MEMBER_NOT_YOURS = "この利用者は表示できません。"
CALL_LOG_BUTTON = "電話・ビデオを記録"
CALL_LOG_TITLE = "電話・ビデオの記録"
CALL_LOG_SUBMIT = "記録する"
CALL_LOG_INTRO = "{name}さんとの電話・ビデオ通話を支援記録に残します。"
CALL_LOG_METHOD = "方法"
CALL_LOG_METHODS = {"phone": "電話", "video": "ビデオ通話"}
CALL_LOG_TIME = "話した時刻"
CALL_LOG_NOTE = "話した内容・様子"
CALL_LOG_NOTE_HINT = "例: 体調を確認。午後は無理せず休むとのこと。"
CALL_LOG_NOTE_EMPTY = "話した内容を入力してください。"
CALL_LOG_TIME_FUTURE = "まだ来ていない時刻です。話した時刻を選んでください。"
CALL_LOG_SAVED = "{name}さんとの{method}を支援記録に残しました。"
CALL_LOG_NOT_SAVED = "記録できませんでした: {reason}"
CALL_LOG_RECORD = "アラート「{title}」について{method}で連絡: {note}"
THREAD_CALL_LOGGED = "📞 {staff}さんが{method}で連絡しました({time})。内容は支援記録にあります。"
STAFF_EVIDENCE_CONSOLE = "職員コンソールで見られます: {url}"

# --- Slack: records (支援記録, evaluations, corrections, sign-off, month, exports) ----------

SLACK_HELP_RECORDS = (
    "\n`/nippo log 利用者 電話|訪問|通所|メッセージ|ビデオ 内容` 支援記録を残す\n"
    "`/nippo eval 利用者 weekly|monthly` 評価の入力フォーム\n"
    "`/nippo month [YYYY-MM]` 月の記録の確認(管理者)\n"
    "`/nippo export nippo|support-records|revisions|zaitaku-list|eval-sheet"
    " [YYYY-MM] [利用者] [csv|xlsx]`"
    " 書類の出力(管理者)"
)
SLACK_MANAGERS_ONLY = "すみません、この操作は管理者だけが使えます。"
SLACK_SHARE_STAFF_CHANNEL_ONLY = (
    "状況の共有は、事業所の職員用チャンネル(アラートが届くチャンネル)でだけできます。"
)
SLACK_LOG_USAGE = (
    "`/nippo log 利用者 方法 内容` の形で入力してください"
    "(方法: 電話・訪問・通所・メッセージ・ビデオ)。"
)
SLACK_LOGGED = "{name}さんの支援記録を残しました({method})。"
SLACK_EVAL_USAGE = "`/nippo eval 利用者 weekly` または `monthly` の形で入力してください。"
SLACK_EXPORT_USAGE = (
    "`/nippo export nippo|support-records|revisions|zaitaku-list|eval-sheet"
    " [YYYY-MM] [利用者] [csv|xlsx]`"
    " の形で入力してください。"
)
SLACK_EXPORT_DONE = "{title}({month})を出力しました。"
# A failed upload or post, answered to whoever asked (never silence): what failed, what to do.
SLACK_EXPORT_FAILED = (
    "すみません、{title}のファイルをSlackに送れませんでした(Slackの応答: {error})。"
)
SLACK_EXPORT_REFUSED = (
    "Slackアプリにファイルを送る権限がないようです。管理者にアプリの設定"
    "(files:write の権限)を確認してもらってください。"
    "それまでは、サーバーで `nippo export` を実行すると同じファイルを出力できます。"
)
SLACK_EXPORT_RETRY = (
    "少し時間をおいて、もう一度 `/nippo export` をお試しください。"
    "続くときは、サーバーで `nippo export` を実行すると同じファイルを出力できます。"
)
SLACK_POST_FAILED = (
    "すみません、Slackにメッセージを投稿できませんでした(Slackの応答: {error})。"
    "少し時間をおいて、もう一度お試しください。"
)
SLACK_RECORDS_ERROR = "すみません、受け付けられませんでした: {reason}"
EVAL_MODAL_TITLE = {"weekly": "週1回の評価", "monthly": "月1回の評価(評価シート)"}
EVAL_SHEET_LABELS = {
    "goal": "訓練目標",
    "activities": "取組内容",
    "achievement": "達成度",
    "issues": "課題",
    "plan": "改善方針",
    "health_notes": "健康面・体調面の留意事項",
    "continuation": "在宅就労継続の妥当性",
}
EVAL_METHOD_LABEL = "実施方法"
EVAL_NOTE_LABEL = "ひとこと"
EVAL_SAVE = "保存"
EVAL_CANCEL = "やめる"
REPORT_EDIT_BUTTON = "修正"
REPORT_SIGN_OFF_BUTTON = "確認(サイン)"
REPORT_EDIT_TITLE = "日報の修正"
REPORT_EDIT_FIELD = "項目"
REPORT_EDIT_VALUE = "新しい値"
REPORT_EDIT_HINT = "時刻は HH:MM、体調は 1〜5、睡眠時間・体温は数字で入力してください。"
REPORT_SIGNED = "✅ {name}さんが確認しました {time}"
DIGEST_SIGN_OFF_BUTTON = "確認しました"
DIGEST_SIGNED = "✅ {name}さんが確認しました {time}"
EVALUATION_DUE_TITLE = "📝 評価の予定"
# A long platform outage (issue #23): late alerts say so; staff hear of it on any platform.
OUTAGE_LATE_NOTE = "⏱ Slack の障害のため、{minutes}分遅れて届きました(発生 {time})"
OUTAGE_LATE_SHORT = "⏱{minutes}分遅れ"
OUTAGE_SUMMARY_TITLE = "⏱ Slack の障害が解消しました"
OUTAGE_SUMMARY = (
    "Slack の障害で{count}件の通知が遅れました(最大{minutes}分)。"
    "遅れて届いた通知には ⏱ の印があります。"
)
OUTAGE_LINE_NOTICE = (
    "【Nippo】Slack に障害があり、スタッフへの通知が{minutes}分以上届いていません"
    "(未送信 {count}件)。急ぎの確認は電話などでお願いします。"
    "Slack が戻ると、まとめて届きます。"
)
REVISION_SIGN_OFF_LINE = "{time} 職員が確認(サイン)"

# --- the staff console (/console, adapters/staff_console, issue #20) ----------------------

CONSOLE_LINK_TOO_MANY = (
    "サインイン用のリンクを短い間に何度も作っています。"
    "しばらく時間をおいてから、もう一度お試しください。"
)
CONSOLE_LINK_STAFF_INACTIVE = "この職員は登録が外れているため、リンクを作れません。"
CONSOLE_LINK_CLI = "職員コンソールのサインイン用リンク({name}さん、10分間・1回だけ有効):\n{url}"
SLACK_CONSOLE_LINK = (
    "職員コンソールを開くリンクです(10分間、1回だけ使えます。ほかの人には渡さないでください)。\n"
    "<{url}|職員コンソールを開く>"
)
SLACK_CONSOLE_NO_URL = (
    "職員コンソールの公開アドレス(PUBLIC_URL)が設定されていないため、リンクを作れません。"
    "管理者に設定をお願いしてください。"
)
SLACK_HELP_CONSOLE = "\n`/nippo web` — 職員コンソール(ブラウザ)を開くリンク"
CONSOLE_LINK_REFUSED = {
    "unknown": "このリンクは確認できませんでした。お手数ですが、新しいリンクを作ってください。",
    "used": "このリンクはすでに使われています。お手数ですが、新しいリンクを作ってください。",
    "expired": (
        "このリンクは有効期限(10分)が過ぎています。お手数ですが、新しいリンクを作ってください。"
    ),
    "inactive": "この職員は登録が外れているため、サインインできません。管理者にご相談ください。",
}
CONSOLE_LINK_HOW = (
    "Slack で `/nippo web` と送るか、管理者に `nippo staff login-link` で作ってもらえます。"
)
CONSOLE_SIGNED_OUT = "サインアウトしました。おつかれさまでした。"
CONSOLE_SESSION_ENDED = (
    "しばらく操作がなかったため、サインインが切れました。もう一度サインインしてください。"
)
CONSOLE_NOT_SIGNED_IN = "この画面を見るにはサインインが必要です。"
CONSOLE_NOT_FOUND = "お探しのページが見つかりませんでした。"
CONSOLE_MANAGERS_ONLY = "すみません、この画面は管理者だけが使えます。"
CONSOLE_CSRF = (
    "画面の有効期限が切れたため、受け付けられませんでした。"
    "ページを開き直してから、もう一度お試しください。"
)
CONSOLE_SAVED = "保存しました。"
CONSOLE_CONFIRM_NEEDED = "確認のチェックを入れてから、もう一度押してください。"
CONSOLE_CONSENT_PICK = "同意の範囲を1つ以上選んでください。"
CONSOLE_ASSIGN_PICK = "担当の職員を選んでください。"
CONSOLE_NOT_YOURSELF = "ご自分の役割の変更や削除は、ほかの管理者にお願いしてください。"
CONSOLE_EDITED = "{label}を修正しました。"
CONSOLE_UNCHANGED = "{label}は今の値と同じため、変更はありません。"
CONSOLE_SIGNED_OFF = "日報を確認(サイン)しました。"
CONSOLE_ALERT_TAKEN = "アラートの対応を始めました。"
CONSOLE_ALERT_RESOLVED = "アラートを対応済みにしました。"
CONSOLE_NOT_ACCEPTED = "すみません、受け付けられませんでした: {reason}"
CONSOLE_EXPORT_KINDS = {
    "nippo": "日報",
    "support-records": "支援記録",
    "revisions": "修正履歴",
    "zaitaku-list": "在宅就労支援対象者リスト",
    "eval-sheet": "評価シート",
    "consent": "同意書の記録",
}
CONSOLE_LADDER_LABELS = {
    "start_reminder": "開始のリマインド(予定の開始から、分。マイナスは前)",
    "start_second": "開始の2回目のリマインド(分)",
    "start_staff": "開始の連絡がないとき職員へ(分)",
    "start_manager": "開始の連絡がないとき管理者へ(分)",
    "end_reminder": "終了のリマインド(予定の終了から、分。マイナスは前)",
    "end_staff": "終了の連絡がないとき職員へ(分)",
    "stale_after": "これより遅いリマインドは送らない(分)",
    "digest_after_end": "職員へのまとめ(既定の終了から、分)",
    "evaluation_hour": "評価の予定を知らせる時刻(時)",
    "renotify_primary": "未対応の緊急アラートを担当へ再通知(分)",
    "renotify_managers": "未対応の緊急アラートを管理者へ再通知(分)",
    "renotify_every": "その後の再通知の間隔(分、0 で再通知なし)",
    "consult_promise": "相談の折り返しを待てる時間(営業時間の分)",
}
CONSOLE_DAY_MARKS = {
    "zaitaku": "在宅",
    "tsusho": "通所",
    "absent": "休み",
    "missing": "未報告",
    "off": "予定なし",
    "planned": "予定",
}
# the member's month: the charts and the day's evidence files
CONSOLE_CHART_HEALTH = "体調(1〜5)"
CONSOLE_CHART_SLEEP = "睡眠(時間)"
CONSOLE_CHART_VALUES = "グラフの数値"
CONSOLE_CHART_EMPTY = "この月は体調と睡眠の記録がまだありません。"
CONSOLE_EVIDENCE = "写真・ファイル・音声"
CONSOLE_EVIDENCE_KINDS = {
    "image": "写真",
    "audio": "声のメッセージ",
    "video": "動画",
    "file": "ファイル",
}
CONSOLE_EVIDENCE_DOWNLOAD = "ダウンロード"

# --- records as evidence: who entered what, and when (issue #16 §1) ------------------------

LATE_MARK = "【事後記録】"
WHO_MEMBER = "本人"
WHO_BOT = "システム"
# Why a staff text was flagged; read as 「{label}」は{reason}。
FLAG_REASONS = {
    "vague": "具体的な内容が読み取れない記録です",
    "empty": "空欄です",
    "same_as_previous": "前回と同じ文面です",
    "same_as_previous_day": "前日と同じ文面です",
    "unplanned": "予定にない日の報告で、在宅か通所か職員の確認待ちです",
    "tsusho_day_at_home": "通所予定の日を在宅で過ごしました",
}
RECORD_FLAG_WARNING = (
    "⚠ 「{label}」は{reason}。あとから読む人にも様子が伝わるよう、確認したことをひとつ"
    "具体的に書いて、もう一度記録していただけますか(この記録は「要確認」の印つきで残ります)。"
)
CONTACT_TEXT_LABEL = "内容"
STAFF_REQUIRED = (
    "記録には、書いた職員の名前が残ります。--staff に Slack のユーザー ID を指定してください"
    "(操作する人も nippo staff add で職員として登録し、自分を指定できます)。"
)
REASON_REQUIRED = "職員による修正には修正理由が必要です(例: 本人に電話で確認)。"
REASON_OPTION_REQUIRED = "修正理由を --reason で書いてください(例: 本人に電話で確認)。"
FUTURE_MOMENT = "まだ来ていない時刻({at})の記録はできません。時刻を確かめてください。"
FUTURE_DAY = "まだ来ていない日({day})の記録はできません。日付を確かめてください。"
SIGN_OFF_RECORD = "日報を確認(サイン)"
SIGN_OFF_RECORD_ADVICE = "日報を確認(サイン) / 助言: {advice}"
SIGN_OFF_VOIDED_REASON = "「{label}」が変わったため、確認をやり直す必要があります"
REPORT_FROM_CONTACT_REASON = "{method}で本人に確認した内容"
REPORT_EXISTS = (
    "{day} の日報はすでにあります。内容を直すときは nippo report edit(Slack では「修正」)を"
    "使ってください。"
)
REPORT_NEEDS_TIMES = "電話などで確認した開始時刻か終了時刻(--start / --end)を入れてください。"
REPORT_NEEDS_AT = "過去の日の連絡は、その時刻を --at で指定してください(例: --at 15:10)。"
REPORT_AT_OTHER_DAY = "連絡の時刻({at})が日報の日付({day})と違います。"
REPORT_ENTERED = "記録 {time} {who}"
REPORT_NEEDS_SIGN_OFF = (
    "⚠ {time} の修正で確認(サイン)が取り消されました。もう一度確認をお願いします。"
)
REPORT_EDIT_REASON = "修正理由"
REPORT_EDIT_REASON_HINT = "例: 本人に電話で確認、入力の誤り"
REVISION_SIGN_OFF_VOIDED_LINE = "{time} 修正により確認(サイン)が取り消されました"
REVISION_REASON = " 理由: {reason}"
REVISION_ADVICE = " 助言: {reason}"
DAY_RECORDS_HEADER = "この日の支援記録"
DAY_RECORD_LINE = "{late}{time} {kind}({channel}) {who}: {content}"
DAY_RECORD_ENTERED = "(記録 {entered})"
CLI_SIGN_OFF_VOIDED = (
    "この日報の確認(サイン)は取り消されました。内容を確かめて、もう一度 sign-off してください。"
)

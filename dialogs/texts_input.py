"""What the assistant says about typed input beyond the parsers' own reasons: date ranges,
open-ended validity, doubtful amounts, several answers in one message, and greetings before
binding. A catalog of its own so the screens' catalog (`texts.py`) stays the engine's."""

from __future__ import annotations

# --- dates ------------------------------------------------------------------------------------

DATE_OUT_OF_RANGE = "{label}应在 {low} 至 {high} 之间，您填写的是 {value}。"
# Words meaning "valid without end" for a certificate's validity; the first is stored.
LONG_TERM_WORDS = ("长期", "长期有效", "永久", "永久有效", "无期限", "终身有效", "终身", "不限期")
LONG_TERM = LONG_TERM_WORDS[0]
LONG_TERM_HINT = "长期有效的证书请填写“长期”。"

# --- doubtful amounts ---------------------------------------------------------------------------

DOUBT_QUESTION = "⚠ 请确认{label}：{typed} 按万元理解是 {as_wan}，{why}。请选择正确的理解："
DOUBT_WHY_YUAN = "像是按“元”填写的"
DOUBT_WHY_OTHERS = "是本单位{other}（{other_value}）的 {ratio} 倍"
DOUBT_WHY_GRADE = "远超{grade}级企业的常见范围（通常不超过 {limit}）"
DOUBT_AS_WAN = "{amount} 万元（{big}）"
DOUBT_AS_YUAN = "{amount} 元 = {wan} 万元"
DOUBT_SUMMARY_HEAD = "请核对以下金额的单位（万元）："
DOUBT_SUMMARY_LINE = "  ⚠ {label}：{value}，{why}"
DOUBT_MORE = "（还有 {count} 个金额待确认）"
DOUBT_RETYPE = "也可以直接重新输入正确的金额。"
DOUBT_CHOSEN = "✓ 已按“{choice}”保存{label}：{value}"
DOUBT_PENDING = "⚠ {label}：{value} 待确认"
DOUBT_CONFIRMED_HEAD = "已确认的较大金额（请再核对一次）："
DOUBT_CONFIRMED_LINE = "  {label}：{value}"

# --- several answers in one message -------------------------------------------------------------

BULK_SUMMARY = "已识别 {found} 项，{missing} 项需要补充"
BULK_SUMMARY_COMPLETE = "已识别 {found} 项，全部齐全"
BULK_PROBLEM = "{label}：{reason} 例如：{example}"
BULK_MISSING = "{label}：未填写"
BULK_UNKNOWN_LABEL = "第 {line} 行“{label}”不是本部分的问题，已忽略"
BULK_ROWS = "共 {rows} 行：{ok} 行无误，{bad} 行有问题"
# The question's prompt: a whole record, or several answers of a section, in one message.
PASTE_HINT_RECORD = "可一次粘贴整条（Excel 行，或每行“名称 值”）"
PASTE_HINT_SECTION = "可一次发送多项（每行“名称 值”）"
BULK_NOTHING_FOUND = "没有识别出可保存的记录。"
BULK_TOO_MANY_CELLS = "这一行有 {cells} 列，模板只有 {columns} 列"

# --- files ---------------------------------------------------------------------------------------

# A photo sent while no file question is open is stored under this name (else the question's).
PHOTO_STEM = "照片"

# --- before binding -------------------------------------------------------------------------------

# Said before binding: answered with the menu (which greets), never "not an invite code".
GREETING_WORDS = (
    "你好",
    "您好",
    "你好呀",
    "您好呀",
    "hi",
    "hello",
    "hey",
    "在吗",
    "在么",
    "在不在",
    "哈喽",
    "嗨",
    "早",
    "早上好",
    "上午好",
    "下午好",
    "晚上好",
    "有人吗",
    "开始",
    "start",
    "帮助",
    "help",
    "菜单",
)

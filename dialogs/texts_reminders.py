"""What the reminders say (DOMAIN.md "Reminders"). Dates are Beijing dates with the weekday
(`dialogs.workdays.chinese_date`); `{late}` is empty or LATE, for reminders sent after an outage."""

from __future__ import annotations

# --- the reminders ----------------------------------------------------------------------------

STAMPED = (
    "【年检提醒】{name}：{year}年度年检申报已于{approved}审核通过，"
    "盖章版申报表还没有回传（第{ordinal}次提醒）。\n"
    "请打印申报表，加盖公章后把扫描件（PDF、JPG 或 PNG）发送到本对话；"
    "收到后即完成网上填报。\n"
    "当前进度：已审核通过，尚缺：盖章版申报表。"
)
RESULTS = (
    "【年检结果】{year}年度年检结果已于{date}公布，可以查看结果文件。{note}\n"
    "{name}的申报状态：{status}。"
)
RENEWAL = (
    "【续证提醒】{name}：资质证书续证须在{deadline}前办理完成，还有{days}天。\n"
    "办理完成后请点「续证已办理」，之后不再提醒。"
)
RENEWAL_TODAY = (
    "【续证提醒】{name}：今天{deadline}是资质证书续证的截止日。\n"
    "如已办理，请点「续证已办理」，之后不再提醒。"
)
DRAFT = (
    "【填报提醒】{name}：{year}年度年检申报须在{deadline}前提交，还有{days}天，"
    "您的申报还没有提交。\n"
    "总进度 {percent}%。{missing}"
)
DRAFT_TODAY = (
    "【填报提醒】{name}：今天{deadline}是{year}年度年检申报的截止日，您的申报还没有提交。\n"
    "总进度 {percent}%。{missing}"
)
DRAFT_MISSING = "尚未完成：\n{lines}\n点「查看缺项」跳到要补的部分。"
DRAFT_MISSING_LINE = "· {section}：{items}"
DRAFT_READY = "所有部分都已填好，点「提交审核」即可提交。"
REVIEW = "【审核提醒】{count}份申报等待审核已超过{days}个工作日：\n{lines}"
REVIEW_LINE = "{n}. {name}（{grade}级）第{version}版，{submitted}提交，应于{expected}前审核"
KICKOFF = (
    "【年检通知】{name}：{year}年度年检申报现已开始，请填报{year}年的数据"
    "（完成情况表含{first}—{year}年）。{deadline}\n"
    "点「开始填报」进入申报；已填过{last}年度年检的单位，联系人、人员和证书可沿用去年的内容。"
)
KICKOFF_DEADLINE = "请在{deadline}前提交审核。"
LATE = "\n（本提醒原定于{due}发送，因系统暂停而延迟送达。）"

STATUS_NAMES = {
    "draft": "尚未提交",
    "submitted": "已提交，等待审核",
    "rejected": "审核未通过，待修改后重新提交",
    "approved": "已审核通过，尚缺盖章版申报表",
    "complete": "已完成网上填报",
}

BTN_UPLOAD_STAMPED = "上传盖章版申报表"
BTN_DECLARATION = "重新获取申报表"
BTN_STATUS = "查看申报状态"
BTN_RENEWAL_DONE = "✅ 续证已办理"
BTN_REMINDERS = "查看我的提醒"
BTN_MISSING = "查看缺项"
BTN_CONTINUE = "继续填报"
BTN_SUBMIT = "📤 提交审核"
BTN_OPEN = "打开：{name}"
BTN_START = "开始填报"

# --- /reminders and 续证已办理 ----------------------------------------------------------------

CONTACT_HEAD = "【{name} · 提醒】"
UPCOMING_HEAD = "即将发送的提醒："
UPCOMING_LINE = "· {when}：{what}"
UPCOMING_NONE = "目前没有待发送的提醒。"
RECENT_HEAD = "最近的提醒："
RECENT_LINE = "· {when}：{what}{how}"
RECENT_NOT_PUSHED = "（终端对话不推送，在此查看）"
RENEWAL_DONE_LINE = "资质证书续证：已于{when}标记为已办理。"
RENEWAL_OPEN_LINE = "资质证书续证：截止{deadline}，办理完成后请点「续证已办理」。"
NOT_BOUND = "您还没有绑定单位，暂无提醒。"

WHAT = {
    "stamped_form": "回传盖章版申报表（第{ordinal}次提醒）",
    "results": "年检结果公布",
    "renewal": "资质证书续证（截止{deadline}）",
    "draft_nudge": "提交年检申报（截止{deadline}）",
    "review_overdue": "超过{days}个工作日未审核的申报",
    "kickoff": "年检开始通知",
}

RENEWAL_MARKED = "✓ 已记录：{name}的资质证书续证已办理（{when}）。之后不再发送续证提醒。"
RENEWAL_ALREADY = "{name}的资质证书续证已于{when}标记为已办理，不再发送续证提醒。"
RENEWAL_WHICH = "请在「续证已办理」后写上单位的统一社会信用代码，例如：续证已办理 {example}"
RENEWAL_UNKNOWN = "没有找到统一社会信用代码为 {code} 的单位。"

REVIEWER_HEAD = "【提醒 · 今后{days}天】"
REVIEWER_COUNT_LINE = "· {what}：{count}条，最早{first}"
REVIEWER_OVERDUE = "等待审核超过{days}个工作日的申报：{count}份。"
BLOCKED_HEAD = "收不到提醒的联系人（已屏蔽机器人或发送失败）："
BLOCKED_LINE = "· {name}：{channel} {chat_id}，{reason}（{when}）"
BLOCKED_NONE = "所有联系人都能收到提醒。"
BLOCKED_REASON = "已屏蔽机器人"
FAILED_REASON = "发送失败：{error}"
UNKNOWN_ENTERPRISE = "（未绑定单位）"
INVITE_FAILURES_HEAD = "近{days}天多次输错邀请码的聊天（可能在猜测邀请码）："
INVITE_FAILURES_LINE = "· {channel} {chat_id}：输错{count}次，最近一次{when}{bound}"
INVITE_FAILURES_BOUND = "（现已绑定）"

KIND_NAMES = {
    "stamped_form": "盖章版申报表回传",
    "results": "年检结果公布",
    "renewal": "资质证书续证",
    "draft_nudge": "申报截止前提交",
    "review_overdue": "审核超时（审核员）",
    "kickoff": "年检开始通知",
}

# --- a year whose holidays no source knows ----------------------------------------------------

# One line each: the years, where to enter them; shown at start-up, by `nianjian cycle check`,
# on the reviewers' /reminders and in `nianjian reminders list`.
CALENDAR_ESTIMATED = (
    "⚠ {years}年的节假日安排尚未录入（chinese-calendar 和节假日文件都没有）："
    "按工作日计算的提醒暂按周一至周五估算。请按国务院办公厅的放假通知填写 {files}。"
)
# After a reminder line whose day was estimated.
ESTIMATED_MARK = "（{years}年按周一至周五估算）"
ESTIMATED_COUNT = "其中{count}条按周一至周五估算（{years}年节假日未录入）。"

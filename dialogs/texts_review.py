"""What the assistant says to reviewers (审核员)."""

from __future__ import annotations

QUEUE_EMPTY = "目前没有待审核的申报。"
QUEUE_HEAD = "【待审核 {count} 份】（按提交时间，最早的在前）"
QUEUE_LINE = "{n}. {name}（{grade}级）第 {version} 版 · 提交于 {when}{late}"
OVERDUE = " ⏰已超过一个工作日"
BTN_REFRESH = "🔄 刷新"
NOT_UNDERSTOOD = "没有理解，请选择下面的一项。"
NOT_FOUND = "找不到这份申报，或它已不在待审核状态。"
HELP = (
    "审核员指令：待审（待审核列表）、打开 编号、通过、驳回、附件、返回、历史、"
    "申请（绑定与注册申请）、邀请 信用代码、添加审核员 渠道:用户ID、"
    "导出 [年份]（全部企业申报的 Excel 表）、后台（网页审核后台的登录链接）。"
    "驳回时先写原因，再勾选需要企业修改的部分。"
)
STATUS = {
    "draft": "填写中",
    "submitted": "待审核",
    "rejected": "已驳回",
    "approved": "已通过，待回传盖章版",
    "complete": "已完成",
}
FILING_HEAD = "【审核】{name} · 第 {version} 版 · {status}"
SUBMITTED_AT = "提交时间：{when}（北京时间）"
KEY_FIGURES = "主要数据："
FIGURE = "  {label}：{value}"
PROJECTS_FIGURE = "{count} 个，合同金额 {contract:,.2f} 万元，服务费 {service:,.2f} 万元"
CHANGES_HEAD = "与上次驳回版本相比的修改："
HISTORY_HEAD = "处理记录："
MORE = "……另有 {count} 处修改"
BTN_APPROVE = "✅ 通过"
BTN_REJECT = "❌ 驳回"
BTN_FILES = "📎 附件（{count}）"
BTN_QUEUE = "↩ 待审列表"
BTN_SEND_REJECTION = "📨 发送驳回"
BTN_BACK_TO_FILING = "↩ 返回申报"
APPROVED = "✅ 已通过 {name} 第 {version} 版，申报表已发送给企业联系人。"
REJECTED = "❌ 已驳回 {name} 第 {version} 版，原因和需要修改的部分已通知企业联系人。"
ASK_REASON = "请输入驳回原因（企业联系人会看到这段文字）："
ASK_SECTIONS = "驳回原因：{reason}\n请勾选需要企业修改的部分（可多选），然后点“发送驳回”："
FILES_HEAD = "这份申报的附件，点击即可发送给您："
SENDING_FILE = "📎 正在发送：{label}（{name}）"
NEW_SUBMISSION = "📥 新的年检申报待审核：{name}（{grade}级）第 {version} 版。"
STAMPED_IN = "📮 {name} 已回传盖章版申报表，年检填报完成。"
BTN_OPEN = "打开审核"
NEW_REQUEST = "🙋 新的{kind}（编号 {id}）：{summary}"
REQUEST_KINDS = {"binding": "绑定申请", "registration": "新获证企业注册"}
BINDING_SUMMARY = "{full_name} 申请绑定 {name}（{code}）"
REGISTRATION_SUMMARY = "{name}（{code}，{grade}级，证书 {cert}），联系人 {full_name} {mobile}"
BTN_APPROVE_REQUEST = "✅ 批准"
BTN_DECLINE_REQUEST = "❌ 不批准"
BTN_REQUESTS = "🙋 申请（{count}）"
REQUESTS_HEAD = "【待处理的申请 {count} 个】"
REQUESTS_EMPTY = "目前没有待处理的申请。"
REQUEST_DONE = "已处理申请 {id}：{verdict}。"
PROMOTED = "已添加审核员：{who}。"
PROMOTE_FORMAT = "格式：添加审核员 渠道:用户ID，例如：添加审核员 telegram:123456"
INVITE_ISSUING = "正在生成邀请码……"
INVITE_ISSUED = "邀请码：{code}（{name}，有效期至 {until}，只能使用一次）"
INVITE_LINK = "邀请链接：https://t.me/{bot}?start={code}"
INVITE_UNKNOWN = "找不到统一社会信用代码为 {code} 的单位；请先导入名单。"
EXPORTING = "正在导出 {year} 年度全部企业的申报数据（Excel）……"
EXPORT_FORMAT = "格式：导出，或 导出 年份，例如：导出 {year}"
EXPORT_EMPTY = "{year} 年度还没有企业的申报，没有可导出的数据。"
# The web console's sign-in (后台 or /console in a chat).
CONSOLE_LINK = (
    "🖥 审核后台登录链接（{minutes} 分钟内有效，只能使用一次，请勿转发）：\n{url}\n"
    "在电脑或手机浏览器中打开，点击“进入审核后台”即可。"
)
CONSOLE_NOT_REVIEWER = "审核后台只对协会审核员开放。如需填报年检，请继续在本对话中操作。"
CONSOLE_OFF = "审核后台尚未启用（网页服务未运行），请联系系统管理员。"

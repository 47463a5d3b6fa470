"""The web console's words (Simplified Chinese), in one place."""

from __future__ import annotations

TITLE = "年检审核后台"
NAV = (
    ("dashboard", "/console/", "概览"),
    ("queue", "/console/queue", "申报列表"),
    ("enterprises", "/console/enterprises", "企业名单"),
    ("requests", "/console/requests", "申请"),
    ("reviewers", "/console/reviewers", "审核员"),
    ("exports", "/console/exports", "导出"),
)
LOGOUT = "退出"

# Where a filing or an enterprise stands on the roster (the dashboard's first chart).
BUCKETS = {
    "unbound": "未绑定",
    "not_started": "未开始填报",
    "draft": "填报中",
    "submitted": "待审核",
    "rejected": "已驳回",
    "approved": "已通过，待回传盖章版",
    "complete": "已完成",
}
BUCKET_COLORS = {
    "unbound": "#9aa5b1",
    "not_started": "#c3cfd9",
    "draft": "#f0b429",
    "submitted": "#2680c2",
    "rejected": "#d64545",
    "approved": "#3ebd93",
    "complete": "#147d64",
}
STATUS = {
    "draft": "填写中",
    "submitted": "待审核",
    "rejected": "已驳回",
    "approved": "已通过",
    "complete": "已完成",
}
STATUS_FILTERS = (
    ("submitted", "待审核"),
    ("rejected", "已驳回"),
    ("approved", "已通过待回传"),
    ("complete", "已完成"),
    ("all", "全部已提交过的"),
)
WAIT_FILTERS = (("", "不限"), ("overdue", "超过一个工作日"), ("today", "一个工作日内"))
CHANNELS = {"telegram": "Telegram", "wechat": "微信", "console": "终端", "web": "网页后台"}
MOVES = {
    "submitted": "提交第 {version} 版",
    "approved": "通过第 {version} 版",
    "rejected": "驳回第 {version} 版",
    "complete": "回传盖章版",
    "draft": "退回草稿",
}

# Sign-in.
LOGIN_TITLE = "登录审核后台"
LOGIN_TEXT = "这是发给审核员的一次性登录链接。点击下面的按钮进入；链接使用一次后即失效，请勿转发。"
LOGIN_BUTTON = "进入审核后台"
LOGIN_REFUSED = {
    "unknown": "这个登录链接无效。",
    "used": "这个登录链接已经用过了，每个链接只能使用一次。",
    "expired": "这个登录链接已过期。",
    "not_reviewer": "这个链接的主人已不是审核员。",
}
LOGIN_AGAIN = "请在与机器人的对话中发送“后台”（或 /console），获取新的登录链接。"
SIGNED_OUT = "您已退出审核后台。"
NO_SESSION = "请先登录：在与机器人的对话中发送“后台”（或 /console），打开收到的链接。"
CSRF_REFUSED = "表单已过期或来源不明（缺少安全校验码），操作未执行。请刷新页面后重试。"

# Dashboard.
DASH_TITLE = "{year} 年度年检概览"
DASH_ROSTER = "名单上的企业（共 {total} 家）"
DASH_DAILY = "每日提交与审核（近 {days} 天）"
DASH_WAIT = "待审核的等待时间"
DASH_DECIDED_IN = "已审核的申报：从提交到处理中位数 {median}，最长 {longest}"
DASH_NOTHING_DECIDED = "还没有已审核的申报。"
DASH_INDICATORS = "参考指标（已提交过的申报，按资质等级）"
DASH_PROGRESS = "填报中的进度（{count} 家）"
PROGRESS_BUCKETS = ("完成不到 25%", "25% – 50%", "50% – 75%", "75% 以上")
DASH_NO_INDICATORS = "还没有已提交的申报。"
GRADE = "{grade}级"
PROGRESS = "已完成 {percent}%"
DASH_PENDING = "另有 {count} 份申报的进度和参考指标正在计算（系统刚启动），稍后刷新即可看到。"
DASH_STAMPED = "已通过但未回传盖章版"
DASH_RENEWALS = "已标记续证办理"
DASH_REMINDERS = "提醒"
DASH_REMINDER_STATES = {
    "sent": "已发送",
    "pending": "待发送",
    "skipped": "已合并跳过",
    "obsolete": "已不需要",
}
DASH_FAILED = "发送失败的消息"
DASH_UNREACHABLE = "无法送达的联系人"
WAIT_BUCKETS = (
    ("today", "一个工作日内"),
    ("overdue", "超过一个工作日"),
)
LEGEND_SUBMITTED = "提交"
LEGEND_APPROVED = "通过"
LEGEND_REJECTED = "驳回"
MET = "达到"
NOT_MET = "低于"
HOURS = "{hours:.1f} 小时"
DAYS = "{days:.1f} 天"

# Queue and filing.
QUEUE_TITLE = "申报列表"
SEARCH_PLACEHOLDER = "单位名称或统一社会信用代码"
FILTER = "筛选"
EMPTY_LIST = "没有符合条件的申报。"
WAITING = "已等待 {days} 个工作日"
OVERDUE = "超时"
PAGE = "第 {page} / {pages} 页，共 {count} 条"
FILING_TITLE = "{name} · 第 {version} 版"
CHANGES = "与上次驳回版本相比的修改"
NO_CHANGES = "（第一次提交，或与驳回版本相比没有修改）"
HISTORY = "处理记录"
ATTACHMENTS = "附件"
ALL_FILES = "全部附件打包下载（ZIP）"
DECLARATION = "申报表 PDF"
VIEWER_HINT = "点击左侧的附件或“申报表 PDF”，在这里查看。"
COMPUTED = "自动计算"
INDICATORS = "参考指标（{grade}级）"
INDICATOR_HEAD = ("指标", "数值", "要求", "结论")
APPROVE = "通过"
REJECT = "驳回"
REASON = "驳回原因（企业联系人会看到）"
REASON_EXAMPLE = "例如：项目1的软件开发费与合同金额不符，请核对后修改。"
SECTIONS = "需要企业修改的部分"
REASON_MISSING = "请填写驳回原因（至少 2 个字），例如：项目1的软件开发费与合同金额不符。"
APPROVED_DONE = "已通过 {name} 第 {version} 版，申报表已发送给企业联系人。"
REJECTED_DONE = "已驳回 {name} 第 {version} 版，原因和需要修改的部分已通知企业联系人。"
ALREADY_DECIDED = "这份申报已由 {who}于 {when} {what}，未重复处理。"
DECIDED_WHAT = {"approved": "审核通过", "rejected": "驳回"}
NEWER_VERSION = "企业已提交了新的版本，未审核：请查看下面的最新版本后再决定。"
NOT_SUBMITTED = "这份申报当前不是待审核状态（{status}），不能审核。"
PROJECT_FILE = "合同/验收文件"
NO_FILE = "—"

# Roster, enterprises, invites, requests, reviewers.
ENTERPRISES_TITLE = "企业名单"
ROSTER_UPLOAD = "导入名单（XLSX 或 CSV）"
ROSTER_HINT = (
    "表头：单位名称、统一社会信用代码、资质等级、证书编号、首次获证年份（可选：往年项目合计）。"
)
ROSTER_BUTTON = "上传并导入"
ROSTER_NO_FILE = "请选择要上传的名单文件（XLSX 或 CSV），例如：企业名单.xlsx。"
ROSTER_UNREADABLE = "无法读取这个文件：{error}。请上传 XLSX 或 CSV 文件，例如：企业名单.xlsx。"
BOUND_NONE = "未绑定"
INVITE = "生成邀请码"
INVITE_TITLE = "{name} 的邀请码"
INVITE_VALID = "邀请码 {code}，有效期至 {until}，只能使用一次。"
INVITE_HOW_TELEGRAM = "用手机扫描二维码，在 Telegram 中打开即可绑定；也可以在对话中直接发送邀请码。"
INVITE_HOW_WECHAT = "用微信扫描二维码关注公众号即可绑定；也可以在公众号对话中直接发送邀请码。"
INVITE_HOW_CODE = "请在与机器人的对话中发送这个邀请码完成绑定。"
PRINT = "打印"
REQUESTS_TITLE = "绑定与注册申请"
REQUESTS_EMPTY = "目前没有待处理的申请。"
REQUEST_KINDS = {"binding": "绑定申请", "registration": "新获证企业注册"}
APPROVE_REQUEST = "批准"
DECLINE_REQUEST = "不批准"
REQUEST_DONE = "已处理申请 {id}：{verdict}。"
REVIEWERS_TITLE = "审核员"
REVIEWER_CONFIGURED = "配置文件中设置（NIANJIAN_REVIEWERS），只能在配置中移除"
REVIEWER_ADD = "添加审核员"
REVIEWER_ADD_HINT = "渠道:用户ID，例如 telegram:123456 或 wechat:oAbC…"
REVIEWER_FORMAT = "格式不对：请写 渠道:用户ID，例如 telegram:123456。"
REVIEWER_ADDED = "已添加审核员 {who}。"
REVIEWER_REMOVED = "已移除审核员 {who}，其网页后台登录已失效。"
REMOVE = "移除"
YOU = "（您）"
EXPORTS_TITLE = "导出"
EXPORT_XLSX = "{year} 年度全部申报（Excel）"
EXPORT_CSV = "{year} 年度全部申报（CSV 压缩包）"
EXPORT_EMPTY = "{year} 年度还没有企业的申报，没有可导出的数据。"

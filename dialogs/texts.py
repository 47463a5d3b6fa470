"""Every sentence the assistant says that is not a field label: one catalog, one place."""

from __future__ import annotations

WELCOME = (
    "您好！我是年检助手，帮您一步步完成 {year} 年度计算机信息系统集成（信息工程）"
    "企业年检填报。每个回答都会立即保存，随时可以中断，回来后发送“继续”即可。\n"
    "常用指令：返回（上一步）、跳过（可选项）、修改、总览、帮助、暂停、继续。"
)
WELCOME_BACK = "欢迎回来！已填写的内容都已保存，我们从上次的地方继续。"

HELP_COMMANDS = (
    "随时可以发送：\n"
    "• 返回 — 回到上一步\n"
    "• 跳过 — 跳过可选项\n"
    "• 保留 — 重新询问已填项时保持原值\n"
    "• 修改 — 查看本部分小结并修改任意一项\n"
    "• 总览 — 查看各部分完成情况，跳转到任意部分\n"
    "• 暂停 / 取消 — 先停下来，内容都已保存\n"
    "• 继续 — 从上次的地方继续\n"
    "• 表格导入 — 在「项目汇总」部分用 Excel 表格批量导入项目\n"
    "有疑问请致电协会：{help_line}"
)
HELP_FIELD = "【{label}】{help}"

SECTION_INTRO = "▶ 开始填写「{section}」：{intro}"
PROGRESS = "【{section} · 第 {step}/{steps} 项 · 总进度 {percent}%】"
PROGRESS_RECORD = "【{section} · {record} · 第 {step}/{steps} 项 · 总进度 {percent}%】"
ASK = "请填写：{label}{unit}"
# No "回复编号" here: Telegram shows buttons without numbers; the channels that number the
# options (terminal, WeChat) say so themselves.
ASK_CHOICE = "请选择：{label}"
ASK_FILE = "请上传：{label}（PDF、JPG、PNG 或 OFD 文件）"
CURRENT_VALUE = "当前值：{value}。输入新值修改，或发送“保留”不变。"
OPTIONAL_HINT = "（可选项，没有请发送“跳过”）"
EXAMPLE = "例如：{example}"
SAVED = "✓ 已保存 {label}：{value}"
CHANGED = "✓ 已修改 {label}：{value}"
KEPT = "✓ 保持不变：{label}"
SKIPPED = "✓ 已跳过：{label}"
CHANGED_MEANWHILE = (
    "⚠ “{label}”刚刚已被同单位的其他联系人填写为：{value}。您的输入没有保存；"
    "如仍要修改，请重新输入，或发送“保留”。"
)
NOTHING_TO_KEEP = "“{label}”还没有填写，请输入。"

ERROR = "✗ {reason}\n例如：{example}"
REQUIRED_NO_SKIP = "“{label}”是必填项，不能跳过。"
NEED_FILE = "这一项需要上传文件，请直接发送文件（PDF、JPG、PNG 或 OFD）。"
FILE_REMOVED = "✓ 已移除：{label}"
FILE_REQUIRED = "“{label}”是必需的附件，不能移除；可以直接发送新文件替换。"
BTN_REMOVE_FILE = "移除文件"
FILE_NOT_EXPECTED = "现在不需要文件。"
FILE_REJECTED = "✗ 文件未被接受：{reason}"
FILE_SAVED = "✓ 已收到文件：{name}（{size}），已保存为“{label}”。"
ROSTER_SECTION = "【{section}】（由协会导入，只读；如有错误请致电 {help_line}）"
READ_ONLY = "“{label}”由协会导入，不能在这里修改；如有错误请致电 {help_line}。"
YEAR_RANGE = "年份应在 {low} 到 {high} 之间。"
NOT_A_YEAR = "请输入四位数年份。"
NOT_AN_OPTION = "没有对应的选项，请从选项中选择一项。"

FIRST_STEP = "已经是第一个问题了。"
PAUSED = "已暂停，所有已填写的内容都已保存。发送“继续”从“{where}”接着填写。"
STILL_PAUSED = "填报已暂停。发送“继续”接着填写，发送“总览”查看进度。"
CANCELLED_EDIT = "已取消修改，原值保持不变。"

SUMMARY_HEAD = "【{section} · 小结】"
SUMMARY_RECORDS = "{noun}（共 {count} {measure}）："
SUMMARY_NO_RECORDS = "{noun}：暂无"
SUMMARY_TOTALS = "自动计算："
SUMMARY_CHECKS_OK = "检查：✓ 未发现问题"
SUMMARY_CHECKS = "检查发现以下问题，请修改："
SUMMARY_MISSING = "尚未填写：{items}"
SUMMARY_HINT = "请核对。确认无误请选“确认”；要修改请选“修改”。"
SUMMARY_READ_ONLY = "以上内容由协会导入，只读；如有错误请致电 {help_line}。请核对后选“确认”。"

BTN_CONFIRM = "确认，下一部分"
BTN_EDIT = "修改某一项"
BTN_ADD = "添加{measure}{noun}"
BTN_EDIT_RECORD = "编辑{noun}"
BTN_DELETE_RECORD = "删除{noun}"
BTN_OVERVIEW = "总览"
BTN_ADD_MORE = "继续添加{measure}{noun}"
BTN_DONE_ADDING = "添加完毕"
BTN_BACK_TO_SUMMARY = "返回小结"
BTN_SKIP = "跳过"
BTN_KEEP = "保留"
BTN_CONTINUE = "继续填报"
BTN_DELETE_YES = "确定删除"
BTN_DELETE_NO = "不删除"

RECORD_SAVED = "✓ 已保存{record}。"
RECORD_TOTALS = "  {label}：{value}"
ASK_MORE = "还要继续添加{noun}吗？"
PICK_FIELD = "要修改哪一项？"
PICK_RECORD_EDIT = "要编辑哪一{measure}{noun}？"
PICK_RECORD_DELETE = "要删除哪一{measure}{noun}？"
RECORD_VIEW = "要修改哪一项？"
CONFIRM_DELETE = "确定删除{record}吗？删除后它的所有内容（包括附件）都会移除。"
DELETED = "✓ 已删除{record}。"
NO_RECORDS = "还没有{noun}。"
RECORD_GONE = "这一条记录已不存在（可能已被其他联系人删除）。"

OVERVIEW_HEAD = "【填报总览 · 总进度 {percent}%】"
OVERVIEW_DONE = "✅ {section}：已完成"
OVERVIEW_INCOMPLETE = "⚠️ {section}：未完成（{missing}）"
OVERVIEW_NOT_STARTED = "⬜ {section}：未开始"
OVERVIEW_INDICATORS = "参考指标（{grade}级）："
OVERVIEW_HINT = "选择一个部分查看或修改，或选“继续填报”。"
OVERVIEW_ALL_DONE = "所有部分都已填写完整。"
ALL_DONE = "🎉 所有部分都已填写完整！可以发送“总览”再核对一遍。"
PROBLEMS = "{count} 个问题"
MORE = "等 {count} 项"

# --- submission and review workflow ---------------------------------------------------------
BTN_SUBMIT = "📤 提交审核"
BTN_CONFIRM_SUBMIT = "确认提交"
BTN_BACK_TO_OVERVIEW = "返回总览"
BTN_GOTO = "去填写：{section}"
CHECK_HEAD = "【提交前检查】"
TRIAL_NO_SUBMIT = (
    "这是试用填报（没有绑定单位），可以完整填写和检查，但不能提交审核。"
    "正式填报请在 Telegram 或微信中使用协会发的邀请码绑定单位。"
)
CHECK_MISSING = "✗ {section}：{items}"
CHECK_COMPLETE = "✓ 所有部分都已填写完整。"
CHECK_TOTALS = "自动计算的合计："
CHECK_READY = "参考指标低于要求只是提示，不影响提交。确认提交后内容将冻结，等待协会审核。"
CHECK_NOT_READY = "还有未完成的部分，补全后才能提交。点击下面的按钮直接前往。"
SUBMITTED = (
    "✅ 已提交审核（第 {version} 版）。审核一般在一个工作日内完成，预计 {expected} 前"
    "给出结果，结果会第一时间通知您。审核期间内容不能修改。"
)
LOCKED_SUBMITTED = (
    "您的年检申报第 {version} 版已提交，正在审核中（预计 {expected} 前完成）。"
    "审核期间内容不能修改，结果会第一时间通知您。"
)
LOCKED_APPROVED = (
    "您的年检申报已审核通过。请打印申报表，加盖单位公章并由法定代表人签字后，"
    "把扫描件（PDF、JPG 或 PNG）直接发送到这里。"
)
STAMP_REQUEST = "请上传：盖章版电子申报表"
BTN_DECLARATION = "📄 获取申报表"
STAMPED_LABEL = "盖章版申报表"
DECLARATION_SENT = "📄 申报表 PDF 已发送。"
STAMPED_RECEIVED = "✅ 已收到盖章版申报表：{name}（{size}）。年检网上填报环节已全部完成，感谢配合！"
LOCKED_COMPLETE = "您的年检网上填报已全部完成（第 {version} 版）。如需帮助请致电 {help_line}。"
REJECTED_NOTE = "❗ 第 {version} 版审核未通过。原因：{reason}"
REJECTED_SECTIONS = "需要修改：{sections}。修改后请重新提交审核。"
OVERVIEW_TO_FIX = "❗ {section}：审核员要求修改"
CHANGE_LINE = "• {label}：{old} → {new}"
CHANGE_RECORD_LABEL = "{record} · {label}"  # an answer of a record: which record it is
# The rejection's deep links: straight to the answer, record or section the reviewer named.
BTN_FIX_FIELD = "✏️ 修改{label}"
BTN_FIX_SECTION = "✏️ 修改「{section}」"
CHANGE_RECORDS = "• {noun}：新增 {added} 条，删除 {removed} 条"

# --- accounts ------------------------------------------------------------------------------------
ONBOARDING = (
    "您好！我是年检助手。开始填报前，需要先把这个聊天绑定到您的单位：\n"
    "• 有协会发的邀请码：直接发送 8 位邀请码（例如 K7M2QX9P），或点击邀请链接；\n"
    "• 单位已在协会名单中但没有邀请码：选“申请绑定”，由审核员确认；\n"
    "• {year} 年新获证的企业：选“新获证企业注册”。\n"
    "有疑问请联系协会：{help_line}。"
)
BTN_REQUEST_BINDING = "申请绑定"
BTN_REGISTER = "{year}年新获证企业注册"
ASK_FULL_NAME = "请输入您的真实姓名（审核员据此确认您是本单位的联系人）："
ASK_CREDIT_CODE = "请输入单位的统一社会信用代码（18 位）："
ASK_ENTERPRISE_NAME = "请输入单位名称（汉字全称，与营业执照一致）："
ASK_GRADE = "请选择资质等级："
ASK_CERT_NUMBER = "请输入能力评估证书编号："
ASK_MOBILE = "请输入您的手机号："
REQUEST_SENT = "✅ 申请已提交（编号 {id}），审核员确认后会在这里通知您。"
REQUEST_PENDING = "您的申请（编号 {id}）正在等待审核员确认，确认后会在这里通知您。"
NOT_ON_ROSTER = (
    "✗ 协会名单中没有统一社会信用代码为 {code} 的单位。如果是 {year} 年新获证的企业，"
    "请选择“新获证企业注册”；否则请联系协会核对。"
)
ALREADY_REGISTERED = "✗ 这个统一社会信用代码已经登记过了。请申请绑定，或联系协会。"
REQUEST_APPROVED = "✅ 您的申请已通过。"
REQUEST_DECLINED = "您的申请（编号 {id}）没有通过。如有疑问请联系协会：{help_line}。"
NOT_A_CODE = "这不是有效的邀请码格式（8 位字母和数字，例如 K7M2QX9P）。"
BIND_FIRST = "请先绑定单位，再上传文件。"
INVITE_INVALID = "✗ 邀请码无效、已使用或已过期。请核对后重新发送，或联系协会获取新的邀请码。"
# Invite-code throttling (storage/throttle.py): said after the failure that starts a wait, and
# to any code sent while it lasts (the code is then not looked at).
INVITE_BACK_OFF = (
    "邀请码已多次输入错误，为防止猜测，请 {minutes} 分钟后（{until}）再发送邀请码；"
    "再次输错等待时间会加倍。也可以发送“申请绑定”由协会审核，或致电 {help_line}。"
)
INVITE_THROTTLED = (
    "✗ 邀请码输入错误次数过多，暂时不能验证。请 {minutes} 分钟后（{until}）再发送，"
    "例如：K7M2QX9P。也可以发送“申请绑定”由协会审核，或致电 {help_line}。"
)
BOUND = (
    "✅ 绑定成功：{name}。以后在这里填报的内容都属于这个单位，同单位的其他联系人也可以一起填写。"
)
HISTORY_HEAD = "【处理记录】"
HISTORY_LINE = "{when} {what}"
HISTORY_EMPTY = "还没有处理记录（申报尚未提交）。"
HISTORY_YEAR = "{year} 年度："
HISTORY_WHAT = {
    "submitted": "提交审核（第 {version} 版）",
    "approved": "审核通过（第 {version} 版）",
    "rejected": "审核驳回（第 {version} 版）：{reason}",
    "complete": "已回传盖章版申报表，填报完成",
    "draft": "重新打开填写",
}
DECLARATION_CAPTION = "{name} {year} 年度年检申报表（第 {version} 版）"
APPROVED_NOTICE = (
    "🎉 您的年检申报（第 {version} 版）已审核通过！申报表见上方 PDF：请打印，加盖单位公章并由"
    "法定代表人签字后，把扫描件直接发送到这里。"
)

# --- projects from a spreadsheet -------------------------------------------------------------
BTN_IMPORT = "📥 表格导入项目"
BTN_TEMPLATE_AGAIN = "重新获取模板"
BTN_IMPORT_BACK = "返回"
IMPORT_TEMPLATE_CAPTION = "{year} 年度系统集成项目导入模板（每行一个项目，填写说明见第二个工作表）"
IMPORT_TEMPLATE_NAME = "{year}年度系统集成项目导入模板.xlsx"
IMPORT_REQUEST = (
    "📥 表格导入项目：模板已发送（上方的 Excel 文件）。每行填写一个 {year} 年度完成的项目，"
    "列名不要修改，示例行可以保留或删除。填好后把 .xlsx 文件直接发送到这里。\n"
    "导入前会逐行检查，有问题的行会列出行号、列名和正确写法；确认之前不会导入任何内容。"
    "在聊天中逐个填写的项目不受导入影响。"
)
IMPORT_ELSEWHERE = (
    "表格导入用于批量填写项目，在「{section}」部分使用：发送“总览”后选择该部分，再发送“表格导入”。"
)
IMPORT_WAITING = "请发送填好的 Excel 表格（.xlsx）；发送“模板”重新获取模板，发送“返回”取消导入。"
IMPORT_NEED_XLSX = (
    "✗ 这里需要填好的项目导入表格（Excel .xlsx 文件），不是附件。"
    "旧版 .xls 或 CSV 请在 Excel 中“另存为”.xlsx 后再发送。"
)
IMPORT_UNREADABLE = "✗ 表格无法读取：{reason}"
IMPORT_EMPTY = "表格是空的。"
IMPORT_MISSING_COLUMNS = (
    "表格缺少这些列：{columns}。请使用模板（发送“模板”重新获取），不要修改第一行的列名。"
)
IMPORT_NO_ROWS = "表格中没有项目（示例行不算）。请从第 2 行起每行填写一个项目。"
IMPORT_TOO_MANY = "表格有 {count} 行项目，一次最多导入 {limit} 行。请拆分或把同类项目合并填报。"
IMPORT_BLANK = "没有填写。"
IMPORT_PROBLEM = "• 第 {row} 行「{column}」：{reason}例如：{example}"
IMPORT_REPORT_HEAD = (
    "【表格检查】共 {rows} 行项目：{good} 行无误，{bad} 行有问题（共 {problems} 处）："
)
IMPORT_REPORT_MORE = "……另有 {count} 处问题，完整报告见文件“{file}”。"
IMPORT_REPORT_COLUMNS = ("行号", "列", "问题", "可以这样填")
IMPORT_REPORT_CAPTION = "项目导入检查报告：每处问题的行号、列名和正确写法"
IMPORT_NOTHING_YET = "还没有导入任何内容。"
IMPORT_CHOOSE = "可以修改表格后重新上传（直接发送新文件即可），或只导入无误的 {good} 行。"
IMPORT_CHOOSE_NONE = "没有可导入的行。请修改表格后重新上传（直接发送新文件即可）。"
BTN_IMPORT_CLEAN = "只导入无误的 {good} 行"
BTN_IMPORT_REUPLOAD = "修改后重新上传"
BTN_IMPORT_CONFIRM = "确认替换"
BTN_IMPORT_CANCEL = "取消导入"
IMPORT_CLEAN_FILE = "【表格检查】共 {rows} 行项目，全部无误。"
IMPORT_DIFF_HEAD = (
    "上次表格导入的 {old} 个项目将被替换：新增 {added} 个，更新 {updated} 个，删除 {removed} 个，"
    "不变 {unchanged} 个。"
)
IMPORT_DIFF_ADDED = "新增：{names}"
IMPORT_DIFF_UPDATED = "更新：{names}"
IMPORT_DIFF_REMOVED = "删除：{names}（已上传的合同文件一并删除）"
IMPORT_DIFF_COUNT = "项目数：{old} → {new} 个"
IMPORT_DIFF_TOTAL = "{label}：{old} → {new} 万元"
IMPORT_CONFIRM_REPLACE = "确认替换吗？在聊天中逐个填写的项目不受影响。"
IMPORT_DONE = (
    "✓ 已从表格导入 {count} 个项目（新增 {added} 个，更新 {updated} 个，删除 {removed} 个）。"
)
IMPORT_DONE_FILES = (
    "还需要上传 {count} 个项目的合同文件（合同关键页 + 验收报告或回款发票），"
    "在「{section}」中逐个上传。"
)
IMPORT_CANCELLED = "已取消导入，项目没有变化。"

# --- last year's values ------------------------------------------------------------------------
CARRY_OFFER = (
    "📋 去年（{year} 年度）填报的「{section}」是：\n{lines}\n"
    "都没有变化请选“沿用去年的”；要逐项确认或修改请选“逐项确认或修改”。"
)
CARRY_OFFER_HOLDERS = (
    "📋 去年（{year} 年度）填报的持证人员（仍在有效期内的 {count} 本证书）：\n{lines}\n"
    "全部沿用请选“沿用去年的”；要逐个确认请选“逐项确认或修改”。"
)
CARRY_EXPIRED = "另有 {count} 本证书已过有效期或不在今年的证书目录中，没有列出。"
BTN_CARRY_ALL = "沿用去年的"
BTN_CARRY_EACH = "逐项确认或修改"
CARRY_SAVED = "✓ 已沿用去年填报的「{section}」（{count} 项）。"
CARRY_DEFAULT = "去年填报：{value}。沿用请发送“保留”，或直接输入新值。"
BTN_CARRY_KEEP = "保留（沿用去年）"
CARRIED = "✓ 已沿用去年：{label}：{value}"
CARRY_RECORD = (
    "去年的持证人员（第 {index}/{count} 位）：\n{lines}\n"
    "请选“沿用”“修改”或“不再沿用”（已离职或证书作废）。"
)
BTN_CARRY_RECORD_KEEP = "沿用"
BTN_CARRY_RECORD_EDIT = "修改"
BTN_CARRY_RECORD_DROP = "不再沿用"
CARRY_RECORD_SAVED = "✓ 已沿用：{record}"
CARRY_RECORD_DROPPED = "✓ 不再沿用：{record}"
IMPORT_SLOT_LABEL = "项目导入表格（.xlsx）"
IMPORT_TOO_LARGE = "文件超过 {limit} MB，请删除多余的内容后重新发送。"
# A spreadsheet refused before it is read (bot/sheet_guard.py).
SHEET_UNREADABLE = "文件不是有效的 Excel 表格（.xlsx），或已损坏。"
SHEET_TOO_MANY_PARTS = "文件包含 {count} 个部分，不像项目表格。请使用模板（发送“模板”重新获取）。"
SHEET_INFLATES = (
    "表格解压后超过 {limit} MB（通常是大量空行或格式）。请只保留项目数据行，"
    "或把数据复制到新的模板（发送“模板”获取）后重新发送。"
)
SHEET_TOO_MANY_ROWS = (
    "表格超过 {limit} 行（含空行或带格式的行）。请删除多余的行，"
    "或把数据复制到新的模板（发送“模板”获取）后重新发送。"
)
SHEET_TOO_COSTLY = (
    "表格太复杂，读取超出了限制。请把项目数据复制到新的模板（发送“模板”获取），"
    "只保留数据，不要公式和格式，然后重新发送。"
)

"""The form preview's words (`nianjian form preview`): read by the association's reviewers."""

from __future__ import annotations

from dialogs.spec import Kind

TITLE = "{year} 年度计算机信息系统集成（信息工程）企业年检 · 表单预览"
INTRO = (
    "本文档由表单定义（dialogs/form.py）直接生成，与机器人实际提出的问题、选项、规则和自动计算"
    "完全一致，供审核员对照协会的年检说明检查表单，无需运行机器人。"
    "“字段 ID”是稳定编号：数据库、申报表 PDF、审核界面和导出表格都用它。"
    "检查示例和自动计算的“依据”是用一份示例申报实际运行表单规则得出的。"
)
CYCLE_HEAD = "年检周期"
CYCLE_LINES = (
    "年检年度：{year} 年；三年窗口：{window}",
    "结果公布：{results}；证书换证截止：{renewal}",
    "协会咨询电话：{help_line}",
    "项目超过 {files} 个时，只需上传合同金额最大的 {files} 个项目的合同文件",
)
CONTENTS = "目录"
SECTION_ID = "部分 ID：`{id}`"
PER_YEAR = "按年度填写：{cases}"
PER_YEAR_CASE = "「{label}」为 {value} 时填 {years}"
PER_YEAR_OTHER = "为其他值（如 {value}）时填 {years}"
PER_YEAR_ALL = "{years}（所有企业）"
FIELD_HEAD = ("#", "字段 ID", "问题", "类型", "必填", "示例", "说明与规则")
REQUIRED = "必填"
OPTIONAL = "可选"
REQUIRED_PER_RECORD = "按记录"
NEGATIVE = "可以为负数"
MAX_LEN = "最长 {n} 字"
YEAR_RANGE = "{low}–{high} 年"
APPLIES = "条件：{condition}"
CONDITION = "「{label}」为 {value} 时"
CONDITION_UNKNOWN = "视已填内容而定"
FOR_RECORDS = "每个{noun}一份"
REQUIRED_WHEN = "示例：共 {count} 个{noun}时其中 {required} 个必填，其余可选"
RULE = "规则示例：{message}"
GROUP_HEAD = "逐条添加：{noun}（组 ID `{id}`）"
GROUP_LINE = "每{measure}{noun}一条，至少 {min} 条；可列出、编辑（编辑 N）、删除（删除 N）。"
GROUP_TOTALS = "每条保存后自动显示：{items}"
OPTIONS_HEAD = "可选项：{label}（`{id}`）"
OPTIONS_COLS = ("编号", "值", "选项", "别名")
CERT_COLS = ("类别", "等级")
CHECKS_HEAD = "一致性检查"
CHECK_AT_ANSWER = "输入时即拒绝"
CHECK_SUMMARY = "只在小结和提交检查中提示"
CHECK_LINE = "{fields}（{when}）。例：{example}"
CHECK_NO_EXAMPLE = "{fields}（{when}）"
TOTALS_HEAD = "自动计算（灰色项，不需填写）"
TOTAL_LINE = "{label}（依据：{deps}）"
TOTAL_NO_DEPS = "{label}"
INDICATORS_HEAD = "参考指标（低于只提示，不影响提交）"
INDICATOR_COLS = ("指标", "ID", "单位", "甲级", "乙级", "丙级", "丁级", "依据")
NO_REQUIREMENT = "无要求"
INDICATOR_SECTIONS = "在以下部分的小结中显示：{sections}"
KINDS_HEAD = "输入规则（实际解析结果）"
KINDS_INTRO = "同一类型的每个问题都这样理解输入；被拒绝的输入会说明原因并给出例子，然后再问一次。"
KIND_COLS = ("类型", "输入", "结果")
FILE_TYPES = "接受的文件：{types}（按文件内容识别，不看扩展名）"
FLOW_HEAD = "对话流程"
FLOW_INTRO = (
    "下图是对话的各部分及其转换（Graphviz：dialog.dot）；下表逐条列出同样的转换。"
    "实线：正常填写顺序；虚线：修改、跳转；椭圆：申报状态。"
)
FLOW_NO_SVG = (
    "（本机没有 Graphviz 的 dot 命令，未生成 dialog.svg；"
    "可运行 `dot -Tsvg dialog.dot -o dialog.svg`。）"
)
FLOW_COLS = ("从", "到", "条件 / 操作")
FIGURE_CAPTION = "对话流程图"
VALUE_YES = "是"
VALUE_NO = "否"
REFUSED = "✗ {reason} 例如：{example}"

KIND_NAMES: dict[Kind, str] = {
    Kind.TEXT: "文字",
    Kind.AMOUNT: "金额",
    Kind.COUNT: "整数",
    Kind.YEAR: "年份",
    Kind.DATE: "日期",
    Kind.YESNO: "是/否",
    Kind.MOBILE: "手机号",
    Kind.LANDLINE: "固定电话",
    Kind.EMAIL: "电子邮箱",
    Kind.CREDIT_CODE: "统一社会信用代码",
    Kind.CHOICE: "单选",
    Kind.FILE: "文件",
}

# What people type, per kind, run through the real parser for the "输入规则" table.
KIND_SAMPLES: dict[Kind, tuple[str, ...]] = {
    Kind.AMOUNT: (
        "1,234.5",
        "１２３４．５",
        "1234.5万",
        "12345000元",
        "1.2亿",
        "无",
        "-35.5",
        "约100",
    ),
    Kind.COUNT: ("35", "35人", "三十五", "-3", "3.5"),
    Kind.YEAR: ("{year}", "{year}年", "25", "{future}"),
    Kind.DATE: ("{year}-03-01", "{year}/3/1", "{year}年3月1日", "{year}0301", "3月1日"),
    Kind.YESNO: ("是", "不是", "y", "也许"),
    Kind.MOBILE: ("+86 138-0013-8000", "1380013800"),
    Kind.LANDLINE: ("0991-2301105", "2301105"),
    Kind.EMAIL: ("zhangsan@example.com", "zhangsan@"),
    Kind.CREDIT_CODE: ("9111 0108 5513 8508 2q", "91110108551385082A"),
    Kind.CHOICE: ("2", "高项", "ccie", "架构", "不存在的证书"),
    Kind.TEXT: ("新疆某某信息技术有限公司", "  "),
}

# The dialog graph.
GRAPH_TITLE = "{year} 年度年检申报：对话流程"
NODE_START = "开始\n（/start，或邀请码绑定后）"
NODE_COMMANDS = "任一问题都可以发送：\n{words}\n已有答案的问题（含协会导入的）不再询问"
COMMAND_WORDS = ("返回", "跳过", "保留", "修改", "总览", "帮助", "暂停", "继续", "取消")
NODE_ASK = "逐题询问"
NODE_ASK_YEARS = "按年度逐题询问（{years}）"
NODE_RECORD = "添加一{measure}{noun}"
NODE_SUMMARY = "小结：{section}\n确认 / 修改 N{group}/ 总览"
NODE_SUMMARY_GROUP = " / 添加 / 编辑 N / 删除 N "
NODE_OVERVIEW = "总览\n各部分：✓ 完成 / 未完成 / 未开始\n选择部分 / 继续 / 提交"
NODE_SUBMIT = "提交检查\n缺项（可直接前往）\n计算合计、参考指标（低于只提示）"
NODE_SUBMITTED = "{status}\n冻结为第 N 版，通知审核员\n企业端只能查看"
NODE_REJECTED = "{status}\n原因 + 需要修改的部分"
NODE_APPROVED = "{status}\n发送申报表 PDF"
NODE_COMPLETE = "{status}\n完成网上填报"
MARK_OPTIONAL = "（可选）"
MARK_CONDITION = "（{condition}）"
MARK_PER_RECORD = "（每个{noun}一份）"
EDGE_FIRST = "开始填写"
EDGE_DONE = "本部分填完"
EDGE_IF = "若{condition}"
EDGE_ELSE = "否则"
EDGE_SAVED = "保存（显示自动计算值）"
EDGE_SAVED_PLAIN = "保存"
EDGE_EDIT = "修改 N"
EDGE_EDIT_RECORD = "添加 / 编辑 N"
EDGE_CONFIRM = "确认"
EDGE_ALL_DONE = "确认（全部填完）"
EDGE_PICK = "选择部分"
EDGE_SUBMIT = "提交"
EDGE_BACK_OVERVIEW = "总览 / 前往 N（缺项的部分）"
EDGE_CONFIRM_SUBMIT = "确认提交（无缺项；试填的申报不能提交）"
EDGE_REJECT = "审核员：驳回"
EDGE_REOPEN = "联系人收到原因，总览标出需修改的部分；改后重新提交"
EDGE_APPROVE = "审核员：通过"
EDGE_STAMPED = "联系人回传盖章版申报表"
CLUSTER_REVIEW = "提交与审核"

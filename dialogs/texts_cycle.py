"""What `nianjian cycle` and the holiday-coverage check say to the association's operator."""

from __future__ import annotations

# --- holiday coverage -------------------------------------------------------------------------

COVERAGE_HEAD = "节假日安排（{years}年）："
COVERAGE_PACKAGE = "✓ {year}年：chinese-calendar 软件包"
COVERAGE_FILE = "✓ {year}年：节假日文件 {origin}{source}"
COVERAGE_FILE_WINS = "（chinese-calendar 也有该年，以文件为准）"
COVERAGE_NONE = (
    "⚠ {year}年：没有节假日数据，按周一至周五估算；请按通知填写 {file}（模板 {example}）"
)
# At start-up, when a holiday file and the package both give a year.
FILE_WINS = "节假日：{year}年 chinese-calendar 和节假日文件 {origin} 都有，以文件为准。"
COVERAGE_BAD_FILE = "✗ 节假日文件有误，启动会被拒绝：{error}"
COVERAGE_BAD_SCHEDULE = "✗ 提醒时间表有误：{error}"

# --- nianjian cycle open ----------------------------------------------------------------------

OPEN_HEAD = (
    "开启{year}年度年检（数据年度{year}年，完成情况表{first}—{year}年，{year}年获证企业注册）："
)
DB_NOT_CURRENT = "✗ 数据库未迁移到最新版本（当前 {current}）：请先运行 nianjian db upgrade。"
SCHEDULE_WRITTEN = "✓ 已写入提醒时间表 {path}"
SCHEDULE_UPDATED = "✓ 已更新提醒时间表 {path}"
SCHEDULE_KEPT = "✓ 提醒时间表 {path} 已存在，校验通过，未改动"
SCHEDULE_BAD = "✗ 提醒时间表 {path} 有误，未改动：{error}"
SCHEDULE_DATES = (
    "  结果公布 {results}，续证截止 {renewal}，申报截止 {deadline}，发送时间 {send_time}"
)
NO_DEADLINE = "未设置"
KICKOFF_SET = (
    "✓ 年检开始通知：{date}起发给名单上每家单位已绑定的联系人（每家只发一次）；"
    "可用 nianjian reminders list 预览"
)
KICKOFF_OFF = "· 年检开始通知：未开启（加 --notify 开启）"
ROSTER_HEAD = "名单导入（{path}）："
ROSTER_NONE = "· 名单：本次未导入（需要时加 --roster 文件）"
CARRIED = (
    "· 完成情况表：{count} 家单位的{first}、{last}年数据取自其已通过的{last}年度申报"
    "（名单已有的不覆盖；联系人只读）"
)
ROSTER_LEFT = "· 名单中没有、但仍在库中的单位 {count} 家（未改动，也不会删除其以往申报）：{names}"
STATE = (
    "· 库中单位 {enterprises} 家，其中 {bound} 家已有绑定联系人；"
    "{last}年度申报 {last_filed} 份已提交过（{last_statuses}），{year}年度已有申报 {current} 份"
)
ENV_WRITTEN = (
    "✓ 已在 {path} 中切换为 {year} 年度（NIANJIAN_INSPECTION_YEAR、NIANJIAN_REMINDERS_SCHEDULE）"
)
ENV_KEPT = "✓ {path} 已是 {year} 年度"
ENV_OVERRIDDEN = (
    "✗ 环境变量 {name}={value} 优先于 {path}，未能切换：请在启动机器人的环境"
    "（如 systemd 的 EnvironmentFile）中改为 {wanted}"
)
RESTART = (
    "运行中的机器人请重启（systemctl restart nianjian 或重新运行 nianjian run）后进入 {year} "
    "年度；重启前仍按原年度运行，不会丢失数据。"
)
READY = "{year}年度已就绪。"
NOT_READY = "{year}年度尚未就绪：请处理上面标 ✗ 的项目后再运行一次（重复运行不会重复写入）。"
READY_WITH_WARNINGS = "{year}年度可以开始；标 ⚠ 的项目请尽快补齐。"

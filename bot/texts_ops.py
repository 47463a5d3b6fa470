"""Operator-facing text of the command line: errors, `nianjian doctor`, backup and restore.
One line each, Simplified Chinese, naming the setting (NIANJIAN_...) or the command to run."""

from __future__ import annotations

# --- the command line -----------------------------------------------------------------------

DESCRIPTION = "年检助手：企业年检申报的聊天助手（Telegram、微信公众号、终端）"
EXIT_CODES = """退出码：
  0    成功
  1    发现问题（doctor 有阻断项、命令报告了失败、恢复校验不通过）
  2    用法或输入错误（参数、设置、文件不存在或读不了）
  3    数据库连不上、未迁移、落后于程序，或比程序新
  130  被 Ctrl-C 中断"""

SETTINGS_INVALID = "✗ 设置 {name} 无效：{error}"
SETTINGS_HINT = "  （设置来自环境变量和当前目录 {cwd} 下的 .env 文件）"
DB_UNREACHABLE = "✗ 连不上数据库（NIANJIAN_DATABASE_URL={url}）：{error}"
DB_EMPTY = (
    "✗ 数据库还没有建表（NIANJIAN_DATABASE_URL={url}，当前目录 {cwd}）：请先运行 "
    "nianjian db upgrade；若是在别的目录启动的，请回到有 .env 的目录 "
    "(database not migrated: run `nianjian db upgrade`)"
)
DB_BEHIND = (
    "✗ 数据库版本 {current} 落后于程序需要的 {head}：请先备份，再运行 nianjian db upgrade，"
    "或用 nianjian run --upgrade (database schema is behind: run `nianjian db upgrade`)"
)
DB_AHEAD = (
    "✗ 数据库版本 {current} 是更新的程序写的，本程序只认识到 {head}：请安装新版本，"
    "或从升级前的备份恢复 (database is newer than this release)"
)
FILE_MISSING = "✗ 找不到文件：{path}"
FILE_ERROR = "✗ 文件操作失败 {path}：{error}"
INTERRUPTED = "已中断。"

DB_CURRENT = "数据库版本：{current}（程序需要：{head}）"
DB_NOT_MIGRATED = "（未迁移）"
DB_UPGRADED = "✓ 数据库已升级到 {head}"
DB_ALREADY = "✓ 数据库已是最新版本 {head}"
DOWNGRADE_UNKNOWN = "✗ 没有版本 {revision}：可选 {known}，或 base（删除全部表）"
MIGRATION_REFUSED = "✗ 迁移无法进行：{error}（nianjian db current 显示当前版本）"
DOWNGRADE_NOTHING = "数据库已在版本 {revision}，无需降级。"
DOWNGRADE_WARNING = (
    "将把数据库从 {current} 降级到 {revision}：之后版本新增的表和列连同其中的数据会被删除"
    "{base}。请先用 nianjian backup 备份。"
)
DOWNGRADE_BASE = "（base：删除全部表和全部申报数据）"
DOWNGRADE_ASK = "确认请输入 yes："
DOWNGRADE_NEEDS_YES = "✗ 未确认：在终端里运行并输入 yes，或加上 --yes"
DOWNGRADE_DONE = "✓ 数据库已降级到 {revision}"

TELEGRAM_BAD_TOKEN = "✗ Telegram 拒绝了 NIANJIAN_TELEGRAM_TOKEN（{error}）：请检查令牌"
TELEGRAM_RETRY = "连不上 Telegram（%s）：%.0f 秒后重试"
PORT_IN_USE = "✗ 无法监听端口 {what}：{error}（端口被占用？另一个 nianjian run 在运行？）"

# --- nianjian doctor --------------------------------------------------------------------------
# One line per check; docs/operator/doctor.md lists each failure and what to do.

DOCTOR_DESCRIPTION = (
    "上线前后的全面检查：设置、数据库、附件目录、字体、节假日数据、Telegram、微信、发送队列、"
    "提醒。每项一行；有阻断项（✗）时退出码为 1，只有提醒（!）时为 0。"
)
DOCTOR_SUMMARY_OK = "检查完毕：没有阻断项（{warnings} 条提醒）。"
DOCTOR_SUMMARY_FAIL = "检查完毕：{failures} 个阻断项，{warnings} 条提醒。"

SETTINGS_OK = "设置有效（环境变量和 {cwd}/.env）"
SCHEDULE_BAD = "提醒安排 NIANJIAN_REMINDERS_SCHEDULE 有误：{error}"
WECHAT_PARTIAL = (
    "微信设置不完整：NIANJIAN_WECHAT_APP_ID、NIANJIAN_WECHAT_APP_SECRET、NIANJIAN_WECHAT_TOKEN "
    "须同时设置（缺 {missing}）"
)
RETIRED_SETTING = (
    "{names} 已不再使用：Telegram webhook 现在和其他页面一样由 NIANJIAN_WEB_PORT 上的网页服务提供"
    "（路径 /{path}）。请从设置中删除，并把 nginx 中 location /{path} 的 proxy_pass 改到 WEB_PORT"
    "（见 deploy/nginx.conf）"
)
WEBHOOK_NOT_HTTPS = "NIANJIAN_TELEGRAM_WEBHOOK_URL 必须是 https:// 地址（现在是 {url}）"
NO_CHANNEL = (
    "既没有设置 NIANJIAN_TELEGRAM_TOKEN，也没有设置 NIANJIAN_WECHAT_*："
    "nianjian run 只会打开终端对话"
)
NO_REVIEWERS = "NIANJIAN_REVIEWERS 为空：没有审核员能审核申报（格式 telegram:12345,wechat:openid）"

DB_OK = "数据库（NIANJIAN_DATABASE_URL={url}）可连接，版本 {head}（最新）"
DB_CHECK_UNREACHABLE = "连不上数据库（NIANJIAN_DATABASE_URL={url}）：{error}"
DB_CHECK_EMPTY = "数据库（NIANJIAN_DATABASE_URL={url}）还没有建表：运行 nianjian db upgrade"
DB_CHECK_BEHIND = "数据库版本 {current} 落后于程序需要的 {head}：先备份，再运行 nianjian db upgrade"
DB_CHECK_AHEAD = "数据库版本 {current} 比程序新（程序只认识到 {head}）：安装新版本或从备份恢复"

FILES_OK = "附件目录（NIANJIAN_ATTACHMENTS_DIR={path}）可写，剩余空间 {free}"
FILES_NOT_WRITABLE = "附件目录（NIANJIAN_ATTACHMENTS_DIR={path}）不可写：{error}"
FILES_LOW_SPACE = (
    "附件目录（NIANJIAN_ATTACHMENTS_DIR={path}）所在磁盘只剩 {free}，少于要求的 {needed}"
)

FONT_OK = "中文字体：{path}"
FONT_BAD = "中文字体 NIANJIAN_PDF_FONT={path} 不能用：{error}"
FONT_NO_CJK = "不含中文字形"
FONT_MISSING = "文件不存在"
FONT_NONE = (
    "没有找到中文 TrueType 字体（NIANJIAN_PDF_FONT 未设置）：申报表 PDF 将使用不嵌入的 "
    "STSong-Light，有的阅读器显示不了；安装 fonts-wqy-zenhei 或设置 NIANJIAN_PDF_FONT"
)

HOLIDAYS_OK = "节假日数据覆盖年检周期 {years} 年（NIANJIAN_INSPECTION_YEAR={year}）"
HOLIDAYS_BAD_FILE = "节假日文件（NIANJIAN_HOLIDAYS）有误，启动会被拒绝：{error}"
HOLIDAYS_MISSING = (
    "节假日数据不含 {missing} 年（NIANJIAN_INSPECTION_YEAR={year} 的周期需要）：该年按周一至周五"
    "估算工作日，请按国务院通知填写 {file}（NIANJIAN_HOLIDAYS），见 docs/operator/new-cycle.md"
)

TELEGRAM_OFF = "Telegram 未配置（NIANJIAN_TELEGRAM_TOKEN 未设置）"
TELEGRAM_OK = "Telegram 令牌有效（NIANJIAN_TELEGRAM_TOKEN）：机器人 @{username}"
TELEGRAM_TOKEN_REFUSED = (
    "Telegram 拒绝了 NIANJIAN_TELEGRAM_TOKEN（{error}）：向 @BotFather 核对令牌"
)
TELEGRAM_UNREACHABLE = "连不上 Telegram（NIANJIAN_TELEGRAM_BASE_URL={url}）：{error}"
WEBHOOK_OK = "Telegram webhook 已设置为 {url}，待处理 {pending} 条"
WEBHOOK_POLLING = "Telegram 轮询模式（NIANJIAN_TELEGRAM_WEBHOOK_URL 未设置），待处理 {pending} 条"
WEBHOOK_OTHER = (
    "Telegram 上的 webhook 是 {actual}，而 NIANJIAN_TELEGRAM_WEBHOOK_URL={url}："
    "nianjian run 启动时会设置；运行中仍如此请查看日志"
)
WEBHOOK_SET_WHILE_POLLING = (
    "Telegram 上设置了 webhook {actual}，但 NIANJIAN_TELEGRAM_WEBHOOK_URL 未设置（轮询模式）："
    "nianjian run 启动时会删除它"
)
WEBHOOK_ERROR = (
    "Telegram 无法送达 NIANJIAN_TELEGRAM_WEBHOOK_URL={url}（{when}，待处理 {pending} 条）：{error}"
    "——检查反向代理、证书和防火墙"
)

WECHAT_OFF = "微信公众号未配置（NIANJIAN_WECHAT_APP_ID 等未设置）"
WECHAT_OK = "微信公众号凭据有效（NIANJIAN_WECHAT_APP_ID={app_id}）：取得了 access token"
WECHAT_REFUSED = (
    "微信拒绝了 NIANJIAN_WECHAT_APP_ID={app_id} / NIANJIAN_WECHAT_APP_SECRET（{error}）{hint}"
)
WECHAT_IP_HINT = "：把本机的出口 IP 加进公众号后台“IP 白名单”"
WECHAT_UNREACHABLE = "连不上微信接口（NIANJIAN_WECHAT_API_BASE_URL={url}）：{error}"
PUBLIC_URL_OK = "微信公开地址 NIANJIAN_PUBLIC_URL={url}（公众号后台的服务器地址：{callback}）"
PUBLIC_URL_MISSING = (
    "NIANJIAN_PUBLIC_URL 未设置：上传和下载链接会指向 http://{host}:{port}，用户打不开"
)
PUBLIC_URL_NOT_HTTPS = "NIANJIAN_PUBLIC_URL={url} 不是 https:// 地址：微信里的链接可能被拦截"

SKIPPED_NO_DB = "{what}：数据库不可用，未检查"
OUTBOX_OK = "发送队列：待发 {pending} 条，失败 {failed} 条"
OUTBOX_BACKLOG = (
    "发送队列积压：{count} 条消息等待超过 {minutes} 分钟（最早 {oldest}）：机器人在运行吗？查看日志"
)
OUTBOX_FAILED = (
    "发送失败 {count} 条（最近一条：{error}）：查看日志；"
    "收不到的联系人见 nianjian reminders blocked"
)
REMINDERS_OK = "提醒：没有到期未发的"
REMINDERS_LATE = (
    "{count} 条提醒到期超过 {minutes} 分钟仍未发出（最早 {oldest}）：机器人在运行吗？"
    "也可运行 nianjian reminders dispatch"
)
CHECK_CRASHED = "{what}：检查时出错：{error}"

# --- backup and restore -----------------------------------------------------------------------

BACKUP_DESCRIPTION = (
    "把数据库（PostgreSQL 用 pg_dump，SQLite 用在线备份）和附件写成 DIR 下的一份快照，"
    "附带校验和清单。附件按内容存放：以后再备份到同一 DIR 只复制新文件。机器人可以照常运行。"
)
RESTORE_DESCRIPTION = (
    "从 DIR 中的快照（默认最新的一份）恢复数据库和附件，并逐一核对校验和。"
    "目标数据库或附件目录不为空时拒绝，除非加 --force（覆盖）。恢复前请先停止机器人。"
)
BACKUP_DONE = "✓ 备份完成：{snapshot}（数据库 {db_size}，附件 {files} 个，其中新复制 {copied} 个）"
BACKUP_NO_DATABASE = (
    "✗ 数据库（NIANJIAN_DATABASE_URL={url}）不存在或还没有建表，没有可备份的内容："
    "是否在服务的目录、用服务的 .env 运行？"
)
BACKUP_TOOL_MISSING = "✗ 找不到 {tool}：安装 postgresql-client（版本不低于服务器）"
BACKUP_TOOL_FAILED = "✗ {tool} 失败：{error}"
BACKUP_SOURCE_CORRUPT = "✗ 附件 {path} 的内容与文件名（校验和）不符：未备份，请检查磁盘"
RESTORE_NO_SNAPSHOT = "✗ {dir} 中没有完整的备份快照（找不到 snapshots/*/manifest.json）"
RESTORE_NOT_EMPTY = "✗ {what} 不是空的：恢复会覆盖它；确认无误请加 --force"
RESTORE_CHECKSUM = "✗ 校验不通过：{what} 的校验和与备份清单不符"
RESTORE_DONE = "✓ 已从 {snapshot} 恢复：数据库（版本 {revision}），附件 {files} 个，校验和全部一致"
RESTORE_UPGRADE = "  数据库版本 {revision} 落后于程序需要的 {head}：接着运行 nianjian db upgrade"
WHAT_DATABASE = "数据库（NIANJIAN_DATABASE_URL={url}）"
WHAT_ATTACHMENTS = "附件目录（NIANJIAN_ATTACHMENTS_DIR={path}）"

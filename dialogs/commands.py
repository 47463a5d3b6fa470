"""The words that steer the conversation at any point, in the forms people type them."""

from __future__ import annotations

from enum import StrEnum

from dialogs.parsing import normalize


class Command(StrEnum):
    BACK = "back"
    SKIP = "skip"
    KEEP = "keep"
    HELP = "help"
    PAUSE = "pause"
    CANCEL = "cancel"
    CONTINUE = "continue"
    EDIT = "edit"
    OVERVIEW = "overview"
    SUBMIT = "submit"
    REMOVE = "remove"
    IMPORT = "import"  # the project spreadsheet: template and upload
    # Answered by the service before any dialog sees them (every kind of chat has them).
    HISTORY = "history"
    REMINDERS = "reminders"
    CONSOLE = "console"  # a reviewer's sign-in link to the web console


_WORDS: dict[str, Command] = {
    **dict.fromkeys(("返回", "上一步", "后退", "回退", "back"), Command.BACK),
    **dict.fromkeys(("跳过", "略过", "不填", "skip"), Command.SKIP),
    **dict.fromkeys(("保留", "不变", "不修改", "不改", "保持", "keep"), Command.KEEP),
    **dict.fromkeys(("帮助", "help", "?", "怎么填"), Command.HELP),
    **dict.fromkeys(("暂停", "稍后", "等一下", "pause"), Command.PAUSE),
    **dict.fromkeys(("取消", "cancel"), Command.CANCEL),
    **dict.fromkeys(("继续", "继续填报", "continue", "resume"), Command.CONTINUE),
    **dict.fromkeys(("修改", "更改", "改", "edit"), Command.EDIT),
    **dict.fromkeys(("总览", "进度", "状态", "概览", "overview", "status"), Command.OVERVIEW),
    **dict.fromkeys(("提交", "提交审核", "submit"), Command.SUBMIT),
    **dict.fromkeys(("移除", "移除文件", "删除文件", "删除附件", "remove"), Command.REMOVE),
    **dict.fromkeys(
        ("表格导入", "导入表格", "批量导入", "excel导入", "导入", "模板", "下载模板", "import"),
        Command.IMPORT,
    ),
    **dict.fromkeys(("history", "历史", "处理记录", "审核记录"), Command.HISTORY),
    **dict.fromkeys(
        ("reminders", "提醒", "我的提醒", "查看提醒", "查看我的提醒"), Command.REMINDERS
    ),
    **dict.fromkeys(("console", "后台", "审核后台", "管理后台", "网页后台"), Command.CONSOLE),
}


def command_of(text: str) -> Command | None:
    # "/history@nianjian_bot": Telegram names the bot after a command in a group's menu.
    word = normalize(text).strip().lower().split("@", 1)[0].rstrip("。.!！~").lstrip("/")
    return _WORDS.get(word)

"""Texts of delivery after a restart: the continuation note and the confirmation of an answer
that repeats the previous one."""

CONTINUATION = "（接上文：服务刚刚重新启动，以下是您现在需要回答的问题。）"
CONFIRM_REPEAT = (
    "您刚才的回答「{text}」已保存为「{previous}」。\n"
    "现在的问题是「{current}」。\n"
    "「{text}」也是这个问题的答案吗？回复 是 保存，回复 否 重新回答。"
)
CONFIRM_REPEAT_PLAIN = (
    "您刚才已经发送过「{text}」，它已保存。\n"
    "这一次的「{text}」也要作为现在这个问题的答案吗？回复 是 保存，回复 否 重新回答。"
)
BTN_YES = "是，保存"
BTN_NO = "否，重新回答"
YES_WORDS = frozenset({"是", "是的", "对", "好", "y", "yes", "1", BTN_YES})
NO_WORDS = frozenset({"否", "不", "不是", "n", "no", "2", BTN_NO})
AGAIN = "继续"  # 否: the current question again (the 继续 command)

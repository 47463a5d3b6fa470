"""What the WeChat channel itself says (Simplified Chinese), in one place. Everything about the
filing comes from the engine's catalog (`dialogs/texts.py`); these are the channel's own words:
how to answer, upload and download links, the pages and the template messages."""

from __future__ import annotations

# --- in the chat ------------------------------------------------------------------------------

PICK_HINT = "请回复序号，或点击选项。"
SAME_OPTIONS = "（选项见上一条消息：点击其中一项，或回复序号。）"
SHORTCUTS = "也可以发送："
UPLOAD_LINK = (
    '📎 直接发送照片，或<a href="{url}">点击这里上传文件（PDF 也可以）</a>。'
    "链接 {hours} 小时内有效。"
)
DOWNLOAD_LINK = '<a href="{url}">点击下载：{name}</a>（{size}，{days} 天内有效）'
UNSUPPORTED = (
    "抱歉，公众号里只能处理文字和图片。PDF 等文件请使用上传链接；需要时发送“继续”获取当前问题。"
)
STALE_OPTION = "这个选项已经失效了，请使用最新消息中的选项，或直接回复。"
FAILED = "抱歉，刚才的消息没有处理成功（已填内容不受影响），请再发送一次。"
UNREADABLE = "图片没能从微信下载下来，请重新发送一次。"

# --- template messages (outside the 48-hour window) -------------------------------------------

TEMPLATE_TITLE = "年检助手通知"
TEMPLATE_HINT = "点击查看全文"
TEMPLATE_DOCUMENT = "📄 {name}"

# --- the pages --------------------------------------------------------------------------------

PAGE_TITLE = "年检助手"
UPLOAD_TITLE = "上传文件"
UPLOAD_FOR = "这个文件用于："
UPLOAD_ACCEPTED = "可以上传 PDF、JPG、PNG 或 OFD 文件，最大 {limit} MB。"
UPLOAD_BUTTON = "上传"
UPLOAD_CHOOSE = "选择文件"
UPLOAD_TOO_LARGE = "文件超过 {limit} MB，请压缩或拆分后再上传。"
UPLOAD_NO_FILE = "请先选择一个文件。"
UPLOAD_BUSY = "正在上传，请稍候……"
UPLOAD_RESULT_OK = "已收到"
UPLOAD_RESULT_BAD = "没有保存"
UPLOAD_BACK = "回到微信继续填报；公众号里也会收到同样的回复。"
UPLOAD_AGAIN = "重新上传"
UPLOAD_NEXT = "继续上传：{slot}"
UPLOAD_DUPLICATE = "这个文件已经通过这个链接收到过了，不用再上传。"
LINK_INVALID = "这个链接无效或已过期。请回到公众号发送“继续”，获取新的链接。"
LINK_STALE = (
    "这个上传链接已经用不上了：对话已经到了别的问题。请回到公众号发送“继续”，获取当前问题的链接。"
)
VIEW_TITLE = "消息全文"
VIEW_OPTIONS = "在公众号里回复序号或选项即可。"

# For the operator (start-up and `nianjian doctor`), not for chat users.
PLAIN_MODE_WARNING = (
    "⚠ 微信回调使用明文模式（WECHAT_MODE=plain）：消息内容不加密，签名也不覆盖消息正文，"
    "截获一次回调地址的人可在几分钟内伪造任意用户的消息。请在公众号后台改为安全模式，"
    "设置 WECHAT_ENCODING_AES_KEY 并去掉 WECHAT_MODE=plain。"
)
SAFE_MODE_NEEDS_KEY = (
    "✗ 微信回调默认使用安全模式，但没有设置 WECHAT_ENCODING_AES_KEY（公众号后台的消息加解密密钥，"
    "43 个字符）。请设置它；确需明文模式时，显式设置 WECHAT_MODE=plain。"
)
PLAIN_MODE_WITH_KEY = (
    "✗ WECHAT_MODE=plain 与 WECHAT_ENCODING_AES_KEY 同时设置：明文模式不使用密钥。"
    "请去掉 WECHAT_MODE=plain（使用安全模式），或去掉密钥。"
)

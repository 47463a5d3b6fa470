"""The WeChat Official Account channel: a thin adapter from WeChat's callbacks and APIs (via
wechatpy) to the chat service, with small pages for uploads and downloads."""

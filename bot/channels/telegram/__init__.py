"""The Telegram channel: a thin adapter from python-telegram-bot to the chat service."""

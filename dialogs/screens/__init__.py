"""The screens of a conversation, one module per kind (see `dialogs.screens.base`); the
engine (`dialogs.engine`) registers them and switches between them."""

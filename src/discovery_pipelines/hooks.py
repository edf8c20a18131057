"""Project hooks registered in ``settings.HOOKS``."""

hooks: list = []

"""Builtin reporters. Each module is a plugin registered like any third-party one."""

"""Pretrained assets of components that have no built-in plugin of their own here yet."""

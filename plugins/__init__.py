"""lswap's built-in plugins, installed as ``lswap_plugins``.

Each subpackage is registered through the ``lswap`` entry-point group in
lswap's pyproject, the same path a third-party plugin takes.
"""

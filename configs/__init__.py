"""lswap's built-in YAML configs, installed as ``lswap_configs`` (``--config NAME`` finds them)."""

"""An example lswap plugin: a small style-based generator and a command."""

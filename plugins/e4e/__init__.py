"""The e4e inverter: Encoder4Editing (Tov et al., SIGGRAPH 2021), images to W+ codes in one pass (``e4e``)."""

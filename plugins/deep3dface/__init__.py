"""Deep3DFaceRecon's 3DMM coefficient regressor with the Basel face model (``deep3dface``)."""

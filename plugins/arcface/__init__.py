"""ArcFace identity embedders: IR-SE-50 (pSp/e4e/PTI) and insightface's iresnet (``arcface``)."""

"""Model-agnostic face geometry: FFHQ alignment and its inverse, choosing a face.

Detection and landmarks come from a `lswap_core.interfaces.FaceAnalyzer`
plugin (``lswap_core.load_face_analyzer``); this package only does geometry
and image handling on their results.
"""

from .alignment import AlignedFace, FaceTransform, align_face, ffhq_quad, quad_transform
from .selection import no_face_error, order_faces, pick_face, select_face

__all__ = [
    "AlignedFace",
    "FaceTransform",
    "align_face",
    "ffhq_quad",
    "no_face_error",
    "order_faces",
    "pick_face",
    "quad_transform",
    "select_face",
]

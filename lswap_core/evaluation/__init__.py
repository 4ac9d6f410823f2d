"""Measuring swaps: identity retrieval, pose, expression, FID and KID (`evaluate`, `evaluate_swaps`)."""

from .judges import EmbedderFeatures, Judges
from .results import EvalResult, PairValues, SettingResult
from .runner import evaluate, evaluate_swaps, parse_settings

__all__ = ["EmbedderFeatures", "EvalResult", "Judges", "PairValues", "SettingResult", "evaluate", "evaluate_swaps",
           "parse_settings"]

"""What turns an upload into a verdict, independent of HTTP.

The one prediction path::

    PredictionService.admit()        memory ceiling, inference pool, model loaded  (service)
    PredictionService.predict(...)   result cache -> inference pool -> predictor   (service)
      Predictor.predict(...)         decode + model run, on a worker thread        (predictor)
    InferencePool                    bounded threads and wait queue                (inference_pool)
    ResultCache                      verdicts by photo hash, model and options     (result_cache)
    ModelSlot                        the served classifier and its swap on reload  (model_slot)
    MemoryCeiling                    process RSS admission check                   (memory_ceiling)

The API's routes read their input, call :class:`PredictionService`, and shape the answer.
"""

from amulet_ai.serving.inference_pool import InferencePool
from amulet_ai.serving.memory_ceiling import MemoryCeiling
from amulet_ai.serving.model_slot import ModelSlot
from amulet_ai.serving.predictor import Predictor
from amulet_ai.serving.result_cache import ResultCache
from amulet_ai.serving.service import BatchOutcome, PredictionService, PredictOutcome

__all__ = [
    "BatchOutcome",
    "InferencePool",
    "MemoryCeiling",
    "ModelSlot",
    "PredictOutcome",
    "PredictionService",
    "Predictor",
    "ResultCache",
]

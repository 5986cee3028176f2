"""The REST API that serves the classifier.

``amulet_ai.api.app.create_app`` builds the FastAPI app (run it with
``uvicorn amulet_ai.api.app:create_app --factory``); ``amulet_ai.api.schemas`` holds the wire
models, importable on their own (no FastAPI, onnxruntime or Pillow is loaded by them).
Nothing is imported here, so importing the schemas stays light.
"""

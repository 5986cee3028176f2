"""JSON request bodies, read once the caller's key has been checked, never before.

FastAPI reads and parses a route's body parameter before it runs any dependency, so a
route taking ``body: Model`` parsed the body of a caller without a key and told them about
it (422 for JSON it could not read, where they were owed 401 or 403). The routes that
check a key take their JSON body through :func:`read_json` instead, called in the route,
after its key dependency has passed. The answers are FastAPI's own:

* no body: 422 ``validation_error`` ``body: Field required``;
* not JSON by its syntax: 422 ``validation_error`` at ``body.<offset>``;
* JSON that cannot be parsed otherwise (nested past the recursion limit, an integer of
  thousands of digits, bytes that are not text): 400 ``invalid_input``;
* no Content-Type, or one other than ``application/json`` (or ``+json``): the bytes are
  validated as they are, so 422;
* a field of the wrong type: 422 ``validation_error`` at ``body.<field>``;

and one of the API's: a body over ``max_bytes`` (1 MB unless told) is 413
``payload_too_large`` as soon as it crosses it. :func:`json_body_doc` documents the body in
OpenAPI, as FastAPI would have.

Example::

    @router.put("/{type_id}/published", openapi_extra=json_body_doc(PublishRequest))
    async def publish_type(request: Request, admin: AdminDep) -> TypeBody:
        body = await read_json(request, PublishRequest)
"""

from __future__ import annotations

import json
from typing import Any, Final, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from amulet_ai.errors import InvalidInput, PayloadTooLarge
from amulet_ai.runtime.streaming import human_size

# Far above the largest body a route takes (a piece's notes, escaped), far below a photo's.
MAX_JSON_BYTES: Final = 1024 * 1024

Model = TypeVar("Model", bound=BaseModel)


_EMPTY: Final = object()


def _is_json(content_type: str | None) -> bool:
    # FastAPI's rule (strict): application/json or application/<anything>+json, nothing else.
    if not content_type:
        return False
    media_type = parse_options_header(content_type)[0].decode("latin-1").lower()
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {human_size(max_bytes)}.",
        details={"max_bytes": max_bytes},
    )


async def _body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
    except ClientDisconnect as exc:
        raise InvalidInput("The upload was interrupted.") from exc
    return bytes(body)


def _parse(raw: bytes, content_type: str | None) -> Any:
    if not raw:
        return _EMPTY
    if not _is_json(content_type):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error]) from None
    except (ValueError, RecursionError):  # not UTF-8 text, too many digits, too deep
        raise InvalidInput("The request body could not be parsed.") from None


async def read_json(
    request: Request, model: type[Model], *, max_bytes: int = MAX_JSON_BYTES
) -> Model:
    """The request's JSON body as ``model``; raises as the module docstring says."""
    value = _parse(await _body(request, max_bytes), request.headers.get("content-type"))
    if value is _EMPTY:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        # from_attributes: FastAPI's wording for a body that is no object.
        return model.model_validate(value, from_attributes=True)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads ``model`` with :func:`read_json`."""
    schema = model.model_json_schema()
    if "$defs" in schema:
        raise ValueError(f"{model.__name__}: nested models are not inlined here")
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }

"""`POST /codec/encode` and `/codec/decode`: Temporal's codec server protocol, so that
the Temporal UI (and `temporal` CLI's `--codec-endpoint`) shows decrypted payloads to
those who hold an API token — or a codec session cookie made with one (`POST /session`,
api/sessions.py), which is what the UI's browser can send. Bodies and answers are
`{"payloads": [Payload JSON]}`."""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import json_format
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from api.auth import CODEC_SESSION
from api.problems import ApiProblem, documented
from api.services import Services
from engine.temporal.codec import CodecError

MAX_PAYLOADS: Final = 1000  # a UI page decodes a few hundred at most


class CodecController(Controller):
    path = "/codec"
    tags = ["codec"]

    @post(
        "/encode",
        status_code=200,
        summary="Encrypt payloads",
        responses=documented(409, 422),
        opt={CODEC_SESSION: True},
    )
    async def encode(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Response[bytes]:
        codec = _codec(services)
        return _answer(await codec.encode(await _payloads(request)))

    @post(
        "/decode",
        status_code=200,
        summary="Decrypt payloads",
        responses=documented(409, 422),
        opt={CODEC_SESSION: True},
    )
    async def decode(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Response[bytes]:
        codec = _codec(services)
        try:
            return _answer(await codec.decode(await _payloads(request)))
        except CodecError as error:
            raise ApiProblem(422, "CODEC_FAILED", str(error)) from None


def _codec(services: Services) -> PayloadCodec:
    if services.codec is None:
        raise ApiProblem(
            409,
            "CODEC_NOT_CONFIGURED",
            "this deployment encodes no payloads: set SEGUE_CODEC_KEYS, or leave the claim-check "
            "on (docs/operations.md)",
        )
    return services.codec


async def _payloads(request: Request[Any, Any, Any]) -> list[Payload]:
    body = await request.body()
    parsed = Payloads()
    try:
        json_format.Parse(body, parsed)
    except (json_format.ParseError, UnicodeDecodeError, ValueError, RecursionError):
        raise ApiProblem(
            400, "INVALID_REQUEST", 'the body must be {"payloads": [...]} in Payload JSON'
        ) from None
    if len(parsed.payloads) > MAX_PAYLOADS:
        raise ApiProblem(
            400, "INVALID_REQUEST", f"{len(parsed.payloads)} payloads, at most {MAX_PAYLOADS}"
        )
    return list(parsed.payloads)


def _answer(payloads: list[Payload]) -> Response[bytes]:
    text = json_format.MessageToJson(Payloads(payloads=payloads), indent=None)
    return Response(text.encode(), media_type="application/json")

"""Security against real servers: API keys, the admin key, rate limits per key and per client
address, CORS as configured, the security headers on every answer, and no secret, trace or
path in any body or log line."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from hostile_corpus import MULTIPART, form, part
from hostile_images import jpeg
from live_server import SECURITY_HEADERS, StartApi, answer_problems, leaks
from raw_http import exchange
from reliability_report import Check, record

KEYS = ("key-alpha-4b1d9e", "key-beta-77c2a0")
ADMIN_KEY = "admin-secret-0f9e3c"
LIMIT = 10
ALLOWED_ORIGIN = "https://shop.example"
PROTECTED = (
    ("POST", "/v1/predict"),
    ("POST", "/v1/predict/batch"),
    ("GET", "/v1/classes"),
    ("GET", "/v1/model"),
)


def _keyed_env() -> dict[str, str]:
    return {
        "AMULET_API_KEYS": ",".join(KEYS),
        "AMULET_ADMIN_KEY": ADMIN_KEY,
        "AMULET_RATE_LIMIT": f"{LIMIT}/minute",
        "AMULET_CORS_ORIGINS": ALLOWED_ORIGIN,
    }


def _problems(response: httpx.Response, status: int, code: str | None) -> list[str]:
    return answer_problems(
        response.status_code,
        response.headers,
        response.content,
        expect_status=status,
        expect_code=code,
    )


def _header_problems(responses: Iterable[httpx.Response]) -> list[str]:
    out = []
    for r in responses:
        for name, value in SECURITY_HEADERS.items():
            if r.headers.get(name) != value:
                out.append(f"{r.request.method} {r.request.url.path} {r.status_code}: {name}")
    return out


def test_keys_admin_key_and_rate_limits_per_key(start_api: StartApi) -> None:
    api = start_api(_keyed_env())
    photo = jpeg(96, 72, seed=31)
    problems: dict[str, list[str]] = {}
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=api.url, timeout=10.0) as http:

        def call(
            name: str, method: str, path: str, status: int, code: str | None, **kw: object
        ) -> httpx.Response:
            response = http.request(method, path, **kw)  # type: ignore[arg-type]
            answers.append(response)
            found = (
                _problems(response, status, code)
                if code is not None
                else ([] if response.status_code == status else [f"status {response.status_code}"])
            )
            if found:
                problems[name] = found
            return response

        for method, path in PROTECTED:
            files = {"front" if path == "/v1/predict" else "files": ("p.jpg", photo, "image/jpeg")}
            kw = {"files": files} if method == "POST" else {}
            call(f"{path} no key", method, path, 401, "unauthorized", **kw)
            call(
                f"{path} wrong key",
                method,
                path,
                403,
                "forbidden",
                headers={"X-API-Key": "nope"},
                **kw,
            )
            call(
                f"{path} empty key",
                method,
                path,
                401,
                "unauthorized",
                headers={"X-API-Key": ""},
                **kw,
            )
        used = 0
        for method, path in PROTECTED:
            files = {"front" if path == "/v1/predict" else "files": ("p.jpg", photo, "image/jpeg")}
            kw = {"files": files} if method == "POST" else {}
            call(f"{path} good key", method, path, 200, None, headers={"X-API-Key": KEYS[0]}, **kw)
            used += 1

        admin = "/v1/admin/reload"
        call("admin no key", "POST", admin, 401, "unauthorized")
        call("admin wrong key", "POST", admin, 403, "forbidden", headers={"X-Admin-Key": "nope"})
        call(
            "admin with an API key",
            "POST",
            admin,
            403,
            "forbidden",
            headers={"X-Admin-Key": KEYS[0]},
        )
        call(
            "admin key as API key",
            "POST",
            admin,
            401,
            "unauthorized",
            headers={"X-API-Key": ADMIN_KEY},
        )
        reload = http.post(admin, headers={"X-Admin-Key": ADMIN_KEY}, timeout=60.0)
        answers.append(reload)

        # Rate limits: alpha spends its budget; beta's is untouched.
        alpha_ok = used
        refused = None
        for _ in range(LIMIT + 2):
            response = http.get("/v1/classes", headers={"X-API-Key": KEYS[0]})
            answers.append(response)
            if response.status_code == 429:
                refused = response
                break
            alpha_ok += 1
        beta = http.get("/v1/classes", headers={"X-API-Key": KEYS[1]})
        answers.append(beta)

    # Without a key, a 15 MB upload is refused before its body is read.
    big = form(part("front", b"\xff\xd8\xff" + b"\x00" * (15 * 1024 * 1024)))
    unauthenticated_upload = exchange(
        api.address, "POST", "/v1/predict", headers=[("Content-Type", MULTIPART)], body=[big]
    )
    log = api.log()
    secrets_in_log = [k for k in (*KEYS, ADMIN_KEY) if k in log]
    leaked = [r.request.url.path for r in answers if leaks(r.text)]
    header_problems = _header_problems(answers)
    refused_problems = (
        _problems(refused, 429, "rate_limited") if refused is not None else ["no 429"]
    )
    ratelimit_headers = all(
        refused is not None and refused.headers.get(h) is not None
        for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
    )
    record(
        "security:keys",
        f"API keys, admin key, rate limit {LIMIT}/minute per key",
        [
            Check("key and admin answers not as specified", len(problems), "==", 0),
            Check("admin reload with the admin key", reload.status_code, "==", 200),
            Check("requests key A got before its 429", alpha_ok, "==", LIMIT),
            Check("key B after key A was limited", beta.status_code, "==", 200),
            Check("429 problems (envelope, Retry-After)", len(refused_problems), "==", 0),
            Check("keyless 15 MB upload: status", unauthenticated_upload.status, "==", 401),
            Check("keys found in the server log", len(secrets_in_log), "==", 0),
            Check("bodies leaking a trace or path", len(leaked), "==", 0),
            Check("answers missing a security header", len(header_problems), "==", 0),
        ],
        {
            "keyless_upload_bytes_sent": unauthenticated_upload.sent_bytes,
            "keyless_upload_answered_early": unauthenticated_upload.answered_early,
            "ratelimit_headers_on_429": ratelimit_headers,
            "problems": problems,
        },
    )
    assert problems == {}
    assert reload.status_code == 200, reload.text
    assert alpha_ok == LIMIT and refused is not None and refused_problems == []
    assert ratelimit_headers
    assert beta.status_code == 200
    assert unauthenticated_upload.status == 401
    assert secrets_in_log == [] and leaked == [] and header_problems == []


def test_anonymous_limits_are_per_client_address_and_admin_is_off_without_its_key(
    start_api: StartApi,
) -> None:
    api = start_api({"AMULET_RATE_LIMIT": "5/minute"})
    first = httpx.Client(base_url=api.url, timeout=10.0)
    # Loopback is 127.0.0.0/8: a second client address without leaving the machine.
    second = httpx.Client(
        base_url=api.url, timeout=10.0, transport=httpx.HTTPTransport(local_address="127.0.0.2")
    )
    # uvicorn trusts X-Forwarded-For only from 127.0.0.1 (its proxy address by default).
    spoofer = httpx.Client(
        base_url=api.url, timeout=10.0, transport=httpx.HTTPTransport(local_address="127.0.0.3")
    )
    with first, second, spoofer:
        first_statuses = [first.get("/v1/classes").status_code for _ in range(6)]
        second_status = second.get("/v1/classes").status_code
        spoofed = [
            spoofer.get("/v1/classes", headers={"X-Forwarded-For": f"10.9.8.{i}"}).status_code
            for i in range(6)
        ]
        admin = first.post("/v1/admin/reload", headers={"X-Admin-Key": "anything"})
        admin_empty = first.post("/v1/admin/reload", headers={"X-Admin-Key": ""})
    record(
        "security:anonymous",
        "Anonymous: limit 5/minute per client address; no admin key configured",
        [
            Check("first address: answers before its 429", first_statuses.index(429), "==", 5),
            Check("second address after the first was limited", second_status, "==", 200),
            Check(
                "untrusted address with a new X-Forwarded-For each time: answers before 429",
                spoofed.index(429) if 429 in spoofed else len(spoofed),
                "==",
                5,
            ),
            Check(
                "admin reload problems (403 forbidden expected)",
                len(_problems(admin, 403, "forbidden")),
                "==",
                0,
            ),
        ],
        {"first_address": first_statuses, "admin_message": admin.json()["error"]["message"]},
    )
    assert first_statuses == [200] * 5 + [429]
    assert second_status == 200
    assert spoofed == [200] * 5 + [429]
    assert _problems(admin, 403, "forbidden") == []
    assert _problems(admin_empty, 403, "forbidden") == []


def test_cors_as_configured_and_security_headers_everywhere(start_api: StartApi) -> None:
    api = start_api(_keyed_env())
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key, Content-Type",
    }
    key = {"X-API-Key": KEYS[0]}
    with httpx.Client(base_url=api.url, timeout=10.0) as http:
        allowed = http.options("/v1/predict", headers={"Origin": ALLOWED_ORIGIN, **preflight})
        denied = http.options(
            "/v1/predict", headers={"Origin": "https://evil.example", **preflight}
        )
        simple_allowed = http.get("/v1/classes", headers={"Origin": ALLOWED_ORIGIN, **key})
        simple_denied = http.get("/v1/classes", headers={"Origin": "https://evil.example", **key})
        others = [
            http.get("/health"),
            http.get("/health/live"),
            http.get("/health/ready"),
            http.get("/metrics"),
            http.get("/docs"),
            http.get("/openapi.json"),
            http.get("/nowhere"),
            http.put("/v1/classes", headers=key),
            http.get("/v1/classes"),
            http.get("/v2/models/amulet-effnet-lite0"),
        ]
    everything = [allowed, denied, simple_allowed, simple_denied, *others]
    header_problems = _header_problems(everything)
    cors_problems = []
    if (
        allowed.status_code != 200
        or allowed.headers.get("access-control-allow-origin") != ALLOWED_ORIGIN
    ):
        cors_problems.append(f"allowed preflight: {allowed.status_code} {dict(allowed.headers)}")
    if "POST" not in allowed.headers.get("access-control-allow-methods", ""):
        cors_problems.append("allowed preflight does not allow POST")
    if "access-control-allow-origin" in denied.headers or denied.status_code < 400:
        cors_problems.append(f"denied preflight: {denied.status_code} {dict(denied.headers)}")
    if simple_allowed.headers.get("access-control-allow-origin") != ALLOWED_ORIGIN:
        cors_problems.append("simple request from the allowed origin without ACAO")
    if (
        "x-request-id"
        not in simple_allowed.headers.get("access-control-expose-headers", "").lower()
    ):
        cors_problems.append("X-Request-ID not exposed to the allowed origin")
    if "access-control-allow-origin" in simple_denied.headers:
        cors_problems.append("simple request from another origin got ACAO")
    no_store = [r.request.url.path for r in everything if r.headers.get("cache-control") is None]
    record(
        "security:cors_headers",
        f"CORS (allowed: {ALLOWED_ORIGIN}) and security headers",
        [
            Check("CORS answers not as configured", len(cors_problems), "==", 0),
            Check(
                "answers missing nosniff / frame / referrer headers", len(header_problems), "==", 0
            ),
            Check("answers without Cache-Control", len(no_store), "==", 0),
        ],
        {
            "denied_preflight_status": denied.status_code,
            "denied_preflight_body": denied.text[:80],
            "answers_checked": len(everything),
        },
    )
    assert cors_problems == []
    assert header_problems == []
    assert no_store == []

"""The FastAPI peer of the GET /notes benchmark: FastAPI + PyJWT under uvicorn, the notes of each user in memory.

Run: uvicorn app:app --workers 2 (Benchmarks/run.py starts it from the pinned venv of Benchmarks/peers/setup.sh).

Verification follows docs/design.md §2 as far as PyJWT goes, plus what it leaves to the caller: alg HS256 only, typ at+jwt,
kid naming a key of the keyring (the JWKS idiom: read the unverified header, pick the key, then jwt.decode), crit
refused unless understood (PyJWT), MAC compared with hmac.compare_digest (inside PyJWT), required iss/aud/sub/iat/exp,
iss, aud contains the audience, sub a non-empty string, exp/iat/nbf with the leeway. Not checked: duplicate JSON
members (json.loads keeps the last), the 8 KiB length limit.

Environment: PEER_KEYRING (the key service's /v1/keyring document), PEER_NOTES (JSON object: sub → the user's notes),
PEER_ISSUER (authstack), PEER_AUDIENCE (notes), PEER_LEEWAY (30 seconds).
"""

import base64
import json
import os
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ISSUER = os.environ.get("PEER_ISSUER", "authstack")
AUDIENCE = os.environ.get("PEER_AUDIENCE", "notes")
LEEWAY = float(os.environ.get("PEER_LEEWAY", "30"))
with open(os.environ["PEER_KEYRING"]) as f:
    KEYS = {k["kid"]: base64.urlsafe_b64decode(k["k"] + "=" * (-len(k["k"]) % 4)) for k in json.load(f)["keys"]}
with open(os.environ["PEER_NOTES"]) as f:
    NOTES = json.load(f)
OPTIONS = {"require": ["iss", "aud", "sub", "iat", "exp"]}
UNAUTHORIZED = HTTPException(401, {"code": "invalid_token"}, {"WWW-Authenticate": 'Bearer realm="notes", error="invalid_token"'})

app = FastAPI()
bearer = HTTPBearer(auto_error=False)


# async def, as in FastAPI's JWT tutorial: a plain def would run in the thread pool, one thread hop per request.
async def subject(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    if credentials is None:
        raise UNAUTHORIZED
    token = credentials.credentials
    try:
        header = jwt.get_unverified_header(token)
        key = KEYS.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
        if key is None or not isinstance(header.get("typ"), str) or header["typ"].lower() not in ("at+jwt", "application/at+jwt"):
            raise UNAUTHORIZED
        claims = jwt.decode(token, key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER, leeway=LEEWAY, options=OPTIONS)
    except jwt.PyJWTError:
        raise UNAUTHORIZED from None
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise UNAUTHORIZED
    return claims["sub"]


@app.get("/notes")
async def list_notes(owner: Annotated[str, Depends(subject)], response: Response):
    response.headers["Cache-Control"] = "no-store"
    return {"notes": NOTES.get(owner, []), "next_cursor": None}

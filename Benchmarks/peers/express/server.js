// The Express peer of the GET /notes benchmark: the original app's stack (Express, notes in memory), with the JWT
// check done by jose (panva/jose 4.x, Debian node-jose) instead of jsonwebtoken, which Debian does not package and
// npm is not reachable from this project's machines. See Benchmarks/peers/README.md.
//
// Verification follows docs/design.md §2 as far as jose goes, plus what it leaves to the caller: alg HS256 only, typ
// at+jwt (jose's `typ` option, case-insensitive, `application/` prefix allowed), crit refused (jose refuses any crit
// it does not know), kid naming a key of the keyring, MAC compared with crypto.timingSafeEqual (inside jose), iss,
// aud contains the audience, exp/nbf with the leeway (jose's clockTolerance). Checked here because jose 4.11 does not:
// sub a non-empty string, iat present and not in the future (jose looks at iat only with maxTokenAge), exp present
// (jose 4.11 has no `requiredClaims` option yet and ignores it silently: without this line, a token without exp was
// accepted forever; the harness's self-check caught it). Not checked: duplicate JSON members (JSON.parse keeps the
// last), the 8 KiB length limit.
//
// Environment: PEER_PORT, PEER_KEYRING (the key service's /v1/keyring document), PEER_NOTES (JSON object: sub → the
// user's notes), PEER_ISSUER (authstack), PEER_AUDIENCE (notes), PEER_LEEWAY (30 seconds), PEER_WORKERS (1: one
// process, as the original app ran; more: node:cluster with that many workers sharing the port).
"use strict";
const cluster = require("node:cluster");
const { createSecretKey } = require("node:crypto");
const fs = require("node:fs");

const workers = Number(process.env.PEER_WORKERS || "1");
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", (worker, code) => { console.error(`worker ${worker.process.pid} exited (${code})`); process.exit(1); });
} else {
  serve();
}

function serve() {
  const express = require("express");
  const { jwtVerify } = require("jose");

  const issuer = process.env.PEER_ISSUER || "authstack";
  const audience = process.env.PEER_AUDIENCE || "notes";
  const leeway = Number(process.env.PEER_LEEWAY || "30");
  const keyring = JSON.parse(fs.readFileSync(process.env.PEER_KEYRING, "utf8"));
  const keys = new Map(keyring.keys.map((k) => [k.kid, createSecretKey(Buffer.from(k.k, "base64url"))]));
  const notes = new Map(Object.entries(JSON.parse(fs.readFileSync(process.env.PEER_NOTES, "utf8"))));
  const options = { algorithms: ["HS256"], typ: "at+jwt", issuer, audience, clockTolerance: leeway };

  function key(header) {
    const secret = typeof header.kid === "string" ? keys.get(header.kid) : undefined;
    if (!secret) throw new Error("unknown kid");
    return secret;
  }

  async function authenticate(req, res, next) {
    const header = req.get("authorization") || "";
    const match = /^bearer +(\S+)$/i.exec(header);
    try {
      if (!match) throw new Error("no bearer token");
      const { payload } = await jwtVerify(match[1], key, options);
      if (typeof payload.sub !== "string" || payload.sub === "") throw new Error("sub");
      if (typeof payload.iat !== "number" || payload.iat > Date.now() / 1000 + leeway) throw new Error("iat");
      if (typeof payload.exp !== "number") throw new Error("exp");
      req.user = payload;
      next();
    } catch {
      res.status(401).set("WWW-Authenticate", 'Bearer realm="notes", error="invalid_token"').json({ code: "invalid_token" });
    }
  }

  const app = express();
  app.get("/notes", authenticate, (req, res) => {
    res.set("Cache-Control", "no-store").json({ notes: notes.get(req.user.sub) || [], next_cursor: null });
  });
  app.listen(Number(process.env.PEER_PORT || "8091"), "127.0.0.1");
}

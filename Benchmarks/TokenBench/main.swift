import AuthStackCore
import Crypto
import Foundation
import JWTKit

// token-bench: cost of verifying one AuthStack access token, next to jwt-kit and the bare HMAC.
//
// Run in a release build (the numbers in docs/benchmarks.md come from exactly this):
//   swift build -c release --product token-bench && .build/release/token-bench
// Each measurement runs `rounds` rounds of `iterations` calls after a warm-up and reports the median, the best and the
// worst round in nanoseconds per call (on a shared VM the spread between rounds is itself worth reading). Nothing here
// is asserted: speed targets live in docs/benchmarks.md, not in `swift test`.

/// Prevents the optimiser from discarding the measured work.
nonisolated(unsafe) var sink: Double = 0

struct Measurement {
    let name: String
    let nanosecondsPerCall: [Double]
    var median: Double { nanosecondsPerCall.sorted()[nanosecondsPerCall.count / 2] }
    var best: Double { nanosecondsPerCall.min()! }
    var worst: Double { nanosecondsPerCall.max()! }
}

func measure(_ name: String, iterations: Int, rounds: Int = 21, _ body: () -> Double) -> Measurement {
    for _ in 0..<(iterations / 10) { sink += body() }
    var results: [Double] = []
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        for _ in 0..<iterations { sink += body() }
        let elapsed = ContinuousClock.now - start
        let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        results.append(nanoseconds / Double(iterations))
    }
    return Measurement(name: name, nanosecondsPerCall: results)
}

func measureAsync(_ name: String, iterations: Int, rounds: Int = 5, _ body: () async -> Double) async -> Measurement {
    for _ in 0..<(iterations / 10) { sink += await body() }
    var results: [Double] = []
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        for _ in 0..<iterations { sink += await body() }
        let elapsed = ContinuousClock.now - start
        let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        results.append(nanoseconds / Double(iterations))
    }
    return Measurement(name: name, nanosecondsPerCall: results)
}

// A realistic keyring (previous, current, next) and a token as identity issues it: UUID ids, 15-minute TTL.
let now = Date()
let keys = ["k-previous", "k-current", "k-next"].enumerated().map { index, kid in
    KeyringKey(
        kid: kid,
        secret: SecretBytes.random(count: 32),
        status: [KeyStatus.previous, .current, .next][index],
        createdAt: now,
        activatedAt: index < 2 ? now : nil,
        retireAt: index == 0 ? now.addingTimeInterval(930) : nil
    )
}
let keyring = try Keyring(version: 1, keys: keys)
let signer = AccessTokenSigner()
let claims = signer.claims(
    subject: UUID().uuidString.lowercased(),
    username: "alice.example",
    sessionID: UUID().uuidString.lowercased(),
    now: now
)
let currentKey = try HS256Key(kid: keyring.currentKey.kid, secret: keyring.currentKey.secret)
let token = signer.sign(claims, with: currentKey)
let verifier = AccessTokenVerifier(policy: TokenVerificationPolicy(audience: "notes"))
let verificationKeys = keyring.verificationKeys
let nowSeconds = now.timeIntervalSince1970
_ = try verifier.verify(token, keys: verificationKeys, now: now)

// `token-bench --profile` only loops the verifier, for perf/callgrind (see docs/benchmarks.md).
if let index = CommandLine.arguments.firstIndex(of: "--profile") {
    let count = CommandLine.arguments.count > index + 1 ? Int(CommandLine.arguments[index + 1]) ?? 1_000_000 : 1_000_000
    for _ in 0..<count { sink += (try? verifier.verify(token, keys: verificationKeys, now: now))?.expiresAt ?? 0 }
    print("verified \(count) tokens")
    exit(0)
}

var results: [Measurement] = []

results.append(
    measure("AccessTokenVerifier.verify (String)", iterations: 100_000) {
        (try? verifier.verify(token, keys: verificationKeys, now: now))?.expiresAt ?? 0
    }
)

let tokenBytes = Array(token.utf8)
results.append(
    measure("AccessTokenVerifier.verify (UTF-8 bytes)", iterations: 100_000) {
        tokenBytes.withUnsafeBufferPointer { bytes in
            (try? verifier.verify(utf8: bytes, keys: verificationKeys, now: nowSeconds).get())?.expiresAt ?? 0
        }
    }
)

let signingInput = Array(token.utf8[..<token.utf8.lastIndex(of: UInt8(ascii: "."))!])
results.append(
    measure("HS256Key HMAC over the signing input (pre-keyed, returns [UInt8])", iterations: 200_000) {
        signingInput.withUnsafeBytes { Double(currentKey.authenticationCode(for: $0).withUnsafeBytes { $0[0] }) }
    }
)

let symmetricKey = SymmetricKey(data: currentKey.secret.bytes)
results.append(
    measure("swift-crypto HMAC<SHA256> one-shot, keyed per call", iterations: 200_000) {
        Double(HMAC<SHA256>.authenticationCode(for: signingInput, using: symmetricKey).withUnsafeBytes { $0[0] })
    }
)

results.append(
    measure("AccessTokenSigner.sign (incl. jti from the CSPRNG)", iterations: 100_000) {
        Double(signer.sign(signer.claims(subject: "u", username: "alice", sessionID: "s", now: now), with: currentKey).utf8.count)
    }
)

// The same token signed with an Ed25519 key (KEYS_ALGORITHM=EdDSA), verified with the public key alone.
let edDSAPrivateKey = EdDSAKey.generatePrivateKey()
let edDSAKeyring = try Keyring(
    version: 1,
    keys: [
        KeyringKey(
            kid: "k-eddsa",
            algorithm: .edDSA,
            secret: edDSAPrivateKey,
            publicKey: EdDSAKey.publicKey(of: edDSAPrivateKey) ?? [],
            status: .current,
            createdAt: now,
            activatedAt: now
        )
    ]
)
let edDSASigningKey = edDSAKeyring.signingKey!
let edDSAToken = signer.sign(claims, with: edDSASigningKey)
let edDSAVerificationKeys = try Keyring(jwkSetJSON: edDSAKeyring.jwkSetJSON(includingPrivateKeys: false)).verificationKeys
_ = try verifier.verify(edDSAToken, keys: edDSAVerificationKeys, now: now)
results.append(
    measure("AccessTokenVerifier.verify EdDSA (String)", iterations: 20_000) {
        (try? verifier.verify(edDSAToken, keys: edDSAVerificationKeys, now: now))?.expiresAt ?? 0
    }
)
results.append(
    measure("AccessTokenSigner.sign EdDSA (incl. jti from the CSPRNG)", iterations: 20_000) {
        Double(signer.sign(signer.claims(subject: "u", username: "alice", sessionID: "s", now: now), with: edDSASigningKey).utf8.count)
    }
)

struct JWTKitPayload: JWTPayload {
    var iss: IssuerClaim
    var aud: AudienceClaim
    var sub: SubjectClaim
    var exp: ExpirationClaim
    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
        try aud.verifyIntendedAudience(includes: "notes")
    }
}
let jwtKit = JWTKeyCollection()
for key in keys {
    await jwtKit.add(hmac: HMACKey(key: SymmetricKey(data: key.secret.bytes)), digestAlgorithm: .sha256, kid: JWKIdentifier(string: key.kid))
}
results.append(
    await measureAsync("jwt-kit JWTKeyCollection.verify (reference)", iterations: 50_000) {
        (try? await jwtKit.verify(token, as: JWTKitPayload.self))?.exp.value.timeIntervalSince1970 ?? 0
    }
)

print("token: \(token.utf8.count) bytes, keyring of \(keys.count) keys")
print("| measurement | median ns/call | best round | worst round |")
print("|---|---:|---:|---:|")
for result in results {
    let figures = [result.median, result.best, result.worst].map { String(format: "%.0f", $0) }
    print("| \(result.name) | \(figures.joined(separator: " | ")) |")
}
if sink == 42 { print(sink) }

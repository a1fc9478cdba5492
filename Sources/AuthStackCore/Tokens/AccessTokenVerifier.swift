import Crypto
import Foundation

/// Verifies AuthStack access tokens exactly as docs/design.md §2 specifies; the one verifier every service uses.
///
/// Written by hand on swift-crypto's HMAC rather than on jwt-kit: jwt-kit's `JWTKeyCollection.verify` costs ≈ 30 µs
/// per token here (an actor hop plus Foundation `JSONDecoder`), checks no claim by itself, and falls back to a default
/// key for unknown kids (LESSONS.md). This path does no actor hop, no lock and no `JSONDecoder`; jwt-kit stays in the
/// test suite as an independent oracle. Order of checks: structure, header, key, MAC (constant time), payload,
/// issuer, audience, `iat`, `nbf`, and `exp` last, so that `expired` means "everything else was fine".
public struct AccessTokenVerifier: Sendable {
    /// The claim requirements of this verifier.
    public let policy: TokenVerificationPolicy

    /// A verifier for one service.
    public init(policy: TokenVerificationPolicy) { self.policy = policy }

    /// Verifies `token` against `keys` at time `now`; returns its claims or throws why it was rejected.
    public func verify(_ token: String, keys: VerificationKeySet, now: Date) throws(TokenRejection) -> AccessTokenClaims {
        var token = token
        let seconds = now.timeIntervalSince1970
        return try token.withUTF8 { verify(utf8: $0, keys: keys, now: seconds) }.get()
    }

    /// Verifies the UTF-8 bytes of a compact token at `now` (seconds since the epoch).
    public func verify(utf8 token: UnsafeBufferPointer<UInt8>, keys: VerificationKeySet, now: Double) -> Result<AccessTokenClaims, TokenRejection> {
        Result { () throws(TokenRejection) -> AccessTokenClaims in
            guard token.count <= policy.maximumLength else { throw .tooLong }
            let segments = try CompactSegments(token)
            switch try Self.readHeader(segments.header, keys: keys) {
            case .hs256(let index): try Self.checkSignature(segments, keys: keys, keyIndex: index)
            case .edDSA(let index): try Self.checkSignature(segments, key: keys.edDSAKeys[index])
            }
            let claims = try Self.readClaims(segments.payload)
            try checkClaims(claims, now: now)
            return claims
        }
    }

    private func checkClaims(_ claims: AccessTokenClaims, now: Double) throws(TokenRejection) {
        guard claims.issuer == policy.issuer else { throw .wrongIssuer }
        guard claims.audience.contains(policy.audience) else { throw .wrongAudience }
        guard claims.issuedAt <= now + policy.leeway else { throw .issuedInFuture }
        if let notBefore = claims.notBefore, notBefore > now + policy.leeway { throw .notYetValid }
        guard now < claims.expiresAt + policy.leeway else { throw .expired }
    }

    /// Decodes a base64url segment into stack memory (heap only beyond 1 KiB) and runs `body` on the bytes.
    static func withDecodedSegment<Value>(
        _ segment: UnsafeBufferPointer<UInt8>,
        _ body: (UnsafeBufferPointer<UInt8>) throws(TokenRejection) -> Value
    ) throws(TokenRejection) -> Value {
        guard let length = Base64URL.decodedLength(ofEncodedLength: segment.count) else { throw .malformed }
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { buffer in
            Result { () throws(TokenRejection) -> Value in
                guard Base64URL.decode(segment, into: buffer) == length else { throw .malformed }
                return try body(UnsafeBufferPointer(buffer))
            }
        }.get()
    }

    private static func checkSignature(_ segments: CompactSegments, keys: VerificationKeySet, keyIndex: Int) throws(TokenRejection) {
        // 32 bytes of HMAC-SHA256 encode to exactly 43 base64url characters.
        guard segments.signature.count == 43 else { throw .badSignature }
        let valid = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { scratch -> Bool in
            let signature = UnsafeMutableBufferPointer(rebasing: scratch[0..<32])
            let computed = UnsafeMutableBufferPointer(rebasing: scratch[32..<64])
            guard Base64URL.decode(segments.signature, into: signature) == 32 else { return false }
            keys.authenticate(UnsafeRawBufferPointer(segments.signingInput), withKeyAt: keyIndex, into: computed.baseAddress!)
            return ConstantTime.equals(UnsafeRawBufferPointer(computed), UnsafeRawBufferPointer(signature))
        }
        guard valid else { throw .badSignature }
    }

    private static func checkSignature(_ segments: CompactSegments, key: EdDSAKey) throws(TokenRejection) {
        // 64 bytes of Ed25519 signature encode to exactly 86 base64url characters.
        guard segments.signature.count == 86 else { throw .badSignature }
        let valid = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: EdDSAKey.signatureLength) { signature -> Bool in
            guard Base64URL.decode(segments.signature, into: signature) == EdDSAKey.signatureLength else { return false }
            return key.isValidSignature(UnsafeRawBufferPointer(signature), for: UnsafeRawBufferPointer(segments.signingInput))
        }
        guard valid else { throw .badSignature }
    }
}

/// The three segments of a JWS compact serialisation (RFC 7515 §7.1), split without copying.
struct CompactSegments {
    let header: UnsafeBufferPointer<UInt8>
    let payload: UnsafeBufferPointer<UInt8>
    let signature: UnsafeBufferPointer<UInt8>
    /// `header.payload`: the bytes the MAC covers.
    let signingInput: UnsafeBufferPointer<UInt8>

    init(_ token: UnsafeBufferPointer<UInt8>) throws(TokenRejection) {
        guard let base = token.baseAddress, !token.isEmpty else { throw .malformed }
        // memchr is vectorised; a token is scanned once in total for its two dots and checked for a third.
        guard let firstDot = memchr(base, Int32(UInt8(ascii: ".")), token.count) else { throw .malformed }
        let first = UnsafeRawPointer(firstDot) - UnsafeRawPointer(base)
        guard let secondDot = memchr(base + first + 1, Int32(UInt8(ascii: ".")), token.count - first - 1) else { throw .malformed }
        let second = UnsafeRawPointer(secondDot) - UnsafeRawPointer(base)
        guard memchr(base + second + 1, Int32(UInt8(ascii: ".")), token.count - second - 1) == nil else { throw .malformed }
        guard first > 0, second > first + 1, second < token.count - 1 else { throw .malformed }
        header = UnsafeBufferPointer(rebasing: token[0..<first])
        payload = UnsafeBufferPointer(rebasing: token[(first + 1)..<second])
        signature = UnsafeBufferPointer(rebasing: token[(second + 1)...])
        signingInput = UnsafeBufferPointer(rebasing: token[0..<second])
    }
}

/// The JWS algorithm a key signs with; part of the key, fixed when the key is made (issue 19, item 4).
///
/// A token's `alg` must equal the algorithm of the key its `kid` names, so an HS256 token can never be checked with
/// an EdDSA key's public bytes as an HMAC secret, nor the other way round.
public enum KeyAlgorithm: String, Codable, Sendable, CaseIterable {
    /// HMAC-SHA256 (RFC 7518 §3.2): a shared secret that signers and verifiers both hold.
    case hs256 = "HS256"
    /// Ed25519 (RFC 8037): identity alone holds the private key; verifiers receive the public key only.
    case edDSA = "EdDSA"
}

/// The services' HTTP layer is built on the verifier product: the keyring follower, the bearer authenticator and
/// problem responses come from `AuthStackVerifier`, which a service of a deployment's own uses alone
/// (docs/verifying-tokens.md). Re-exported so that the services need one import for both.
@_exported import AuthStackVerifier

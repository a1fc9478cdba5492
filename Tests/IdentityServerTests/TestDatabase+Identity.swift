import AuthStackTestSupport

@testable import IdentityServer

extension TestDatabase {
    /// Opens an identity store on this database, as the identity service does.
    func identityStore() async throws -> any IdentityStore {
        var configuration = IdentityConfiguration()
        configuration.database = settings(file: "identity.sqlite")
        return adopt(try await configuration.openStore(logger: Self.logger))
    }
}

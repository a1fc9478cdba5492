import AuthStackCore
import Foundation
import Testing

@testable import KeyServer

/// The rules of the key service's client set (docs/design.md §5.4), as pure functions.
@Suite struct ClientPolicyTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let hash = ClientRecord.hash("ast_one")

    private func client(_ name: String, _ role: ClientRole = .verifier, revoked: Bool = false) -> ClientRecord {
        ClientRecord(name: name, role: role, tokenHash: ClientRecord.hash("token of \(name)"), createdAt: now, revokedAt: revoked ? now : nil)
    }

    @Test(arguments: ["a", "billing", "billing-api", "svc_2", String(repeating: "x", count: 40)])
    func validNames(name: String) { #expect(ClientPolicy.isValidName(name)) }

    @Test(arguments: ["", "Billing", "2fa", "-x", "_x", "bill ing", "bill/ing", "bïlling", "a.b", String(repeating: "x", count: 41)])
    func invalidNames(name: String) {
        #expect(!ClientPolicy.isValidName(name))
        #expect(throws: ClientError.invalidName) { try ClientPolicy.add(name: name, role: .verifier, tokenHash: hash, to: [], now: now) }
    }

    @Test func anActiveNameCannotBeAddedTwiceButARevokedOneCanBeReused() throws {
        #expect(throws: ClientError.exists) {
            try ClientPolicy.add(name: "billing", role: .signer, tokenHash: hash, to: [client("billing")], now: now)
        }
        let added = try ClientPolicy.add(name: "billing", role: .signer, tokenHash: hash, to: [client("billing", revoked: true)], now: now)
        #expect(added == ClientRecord(name: "billing", role: .signer, tokenHash: hash, createdAt: now))
        #expect(added.accepts(hash, at: now))
    }

    @Test func activeClientsAreLimited() throws {
        let full = (0..<ClientPolicy.maximumClients).map { client("c\($0)") }
        #expect(throws: ClientError.limitReached) { try ClientPolicy.add(name: "one-more", role: .verifier, tokenHash: hash, to: full, now: now) }
        // Tombstones do not count.
        let revoked = full.map {
            var c = $0
            c.revokedAt = now
            return c
        }
        _ = try ClientPolicy.add(name: "one-more", role: .verifier, tokenHash: hash, to: revoked, now: now)
    }

    @Test func aRotationKeepsTheOldTokenForTheOverlapOnly() throws {
        let old = client("billing")
        let newHash = ClientRecord.hash("ast_new")
        let rotated = try ClientPolicy.rotate(name: "billing", tokenHash: newHash, overlap: 60, in: [old], now: now)
        #expect(rotated.accepts(newHash, at: now))
        #expect(rotated.accepts(old.tokenHash, at: now.addingTimeInterval(59.9)))
        #expect(!rotated.accepts(old.tokenHash, at: now.addingTimeInterval(60)), "the overlap ends at previous_valid_until")
        #expect(rotated.rotatedAt == now && rotated.createdAt == old.createdAt)

        let abrupt = try ClientPolicy.rotate(name: "billing", tokenHash: newHash, overlap: 0, in: [old], now: now)
        #expect(!abrupt.accepts(old.tokenHash, at: now))
        #expect(abrupt.previousTokenHash == nil)
        #expect(throws: ClientError.notFound) { try ClientPolicy.rotate(name: "other", tokenHash: newHash, overlap: 0, in: [old], now: now) }
    }

    @Test func aRevokedClientAcceptsNoTokenNotEvenInItsOverlap() throws {
        let newHash = ClientRecord.hash("ast_new")
        let rotated = try ClientPolicy.rotate(name: "billing", tokenHash: newHash, overlap: 3_600, in: [client("billing")], now: now)
        let revoked = try ClientPolicy.revoke(name: "billing", in: [rotated], now: now)
        #expect(!revoked.accepts(newHash, at: now))
        #expect(!revoked.accepts(client("billing").tokenHash, at: now))
        #expect(throws: ClientError.notFound) { try ClientPolicy.revoke(name: "billing", in: [revoked], now: now) }
    }

    @Test func theLastAdminCannotBeRevoked() throws {
        let clients = [client("admin", .admin), client("notes")]
        #expect(throws: ClientError.lastAdmin) { try ClientPolicy.revoke(name: "admin", in: clients, now: now) }
        let revoked = try ClientPolicy.revoke(name: "admin", in: clients + [client("ops", .admin)], now: now)
        #expect(revoked.revokedAt == now)
    }

    @Test func theDirectoryEndsTheWaitOfATokenANewerSnapshotRefuses() async throws {
        let notes = client("notes")
        let directory = ClientDirectory(ClientSnapshot(version: 1, clients: [notes, client("admin", .admin)]))
        #expect(directory.authenticate("token of notes", now: now)?.name == "notes")
        #expect(directory.authenticate("token of nobody", now: now) == nil)
        async let refused = directory.untilRefused("token of notes", now: now)
        async let other = directory.untilRefused("token of admin", now: now)
        while directory.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
        // An older or equal version changes nothing.
        directory.replace(with: ClientSnapshot(version: 1, clients: []), now: now)
        #expect(directory.waiting == 2)
        let revoked = try ClientPolicy.revoke(name: "notes", in: [notes, client("admin", .admin)], now: now)
        directory.replace(with: ClientSnapshot(version: 2, clients: [revoked, client("admin", .admin)]), now: now)
        #expect(await refused, "the revoked client's wait ended, refused")
        #expect(directory.waiting == 1, "the admin's wait goes on")
        #expect(directory.authenticate("token of notes", now: now) == nil)
        let waiter = Task { await directory.untilRefused("token of admin", now: now) }
        while directory.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
        waiter.cancel()
        #expect(await waiter.value == false, "a cancelled wait ends without a refusal")
        // End the remaining wait the same way a revocation would, so the test leaves nothing waiting.
        directory.replace(with: ClientSnapshot(version: 3, clients: []), now: now)
        #expect(await other)
        // A token the held snapshot already refuses is refused at once: no wait to miss the revocation in.
        #expect(await directory.untilRefused("token of notes", now: now))
    }
}

import AuthStackCore
import AuthStackHTTP
import AuthStackVerifier
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// `GET /notes` answered on the event loop (``InlineResponder``): the notes service's hottest route, served without a
/// task or thread hand-off when the store is SQLite. Only the plain success case is answered here — a verified token
/// (against the keyring held now), valid query parameters, a read that succeeded; for anything else it returns nil and
/// ``NotesRoutes`` answers as usual, so every error has one implementation. The response is the router's, byte for
/// byte (`NotesInlineTests` compares the two).
struct NotesInlineResponder<Source: KeyringSource>: InlineResponder {
    let authenticator: BearerAuthenticator<Source>
    let store: SQLiteNoteStore

    func respond(to request: HTTPRequest) -> InlineResponse? {
        guard let target = request.path, let query = Self.query(ofListing: target),
            let claims = authenticator.claimsIfValid(authorization: Self.onlyAuthorization(in: request.headerFields))
        else { return nil }
        let parameters = URI(target).queryParameters
        guard let page = try? NotePageRequest(limit: query ? parameters["limit"] : nil, cursor: query ? parameters["cursor"] : nil),
            let body = try? store.pageJSONNow(owner: claims.subject, request: page)
        else { return nil }
        return InlineResponse(route: "/notes", status: .ok, headers: NoteHeaders.json, body: body)
    }

    /// The value of the request's one `Authorization` field; nil when there is none or more than one (the router answers
    /// those). Read in place: `headerFields[.authorization]` joins every match into a new string.
    static func onlyAuthorization(in fields: HTTPFields) -> String? {
        var found: String?
        for field in fields where field.name == .authorization {
            guard found == nil else { return nil }
            found = field.value
        }
        return found
    }

    /// For a request target of the listing — `/notes` exactly, with or without a query — whether it has a query;
    /// nil for any other path.
    static func query(ofListing target: String) -> Bool? {
        var utf8 = target.utf8[...]
        guard utf8.starts(with: "/notes".utf8) else { return nil }
        utf8 = utf8.dropFirst(6)
        guard let next = utf8.first else { return false }
        return next == UInt8(ascii: "?") ? true : nil
    }
}

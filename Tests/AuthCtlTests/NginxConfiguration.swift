import Foundation

@testable import AuthCtl

/// An nginx configuration file read the way nginx reads it, as far as the gateway tests need: comments dropped, quoted
/// strings kept whole (the problem bodies hold braces), directives with their blocks, and each `include FILE;` replaced
/// by FILE's directives (relative to the including file, as the compose gateway's `include routes.conf;` is).
struct NginxConfiguration {
    /// One directive: `name arguments… ;` or `name arguments… { block }`.
    struct Directive {
        /// The directive's name (`location`, `proxy_pass`, `return`, …).
        let name: String
        /// Its arguments, quotes removed.
        let arguments: [String]
        /// The directives inside its braces, when it has a block.
        let block: [Directive]?

        /// The directives named `name` directly inside this one's block.
        func children(_ name: String) -> [Directive] { (block ?? []).filter { $0.name == name } }
    }

    /// A configuration that nginx would refuse, or one these tests cannot read.
    struct Malformed: Error, CustomStringConvertible {
        /// What is wrong.
        let description: String
    }

    /// The top-level directives, includes inlined.
    let directives: [Directive]

    /// Reads the file at `url` and every file it includes.
    init(contentsOf url: URL) throws {
        directives = try Self.read(url, depth: 0)
    }

    /// Every directive named `name`, at any depth.
    func all(_ name: String) -> [Directive] {
        func walk(_ directives: [Directive]) -> [Directive] {
            directives.flatMap { ($0.name == name ? [$0] : []) + walk($0.block ?? []) }
        }
        return walk(directives)
    }

    private static func read(_ url: URL, depth: Int) throws -> [Directive] {
        guard depth < 8 else { throw Malformed(description: "includes nested too deep at \(url.path)") }
        var tokens = try tokenize(try String(contentsOf: url, encoding: .utf8))[...]
        return try inline(try parseBlock(&tokens, closed: false), from: url, depth: depth)
    }

    /// `directives` with every `include` (at any depth) replaced by the included file's directives.
    private static func inline(_ directives: [Directive], from url: URL, depth: Int) throws -> [Directive] {
        try directives.flatMap { directive -> [Directive] in
            if directive.name == "include" {
                // An absolute pattern is a drop-in directory of the image, empty unless an override file mounts one
                // there (compose.tls.yaml's tls.conf, which check-deploy.sh tests with `nginx -t`).
                if directive.arguments.count == 1, directive.arguments[0].hasPrefix("/"), directive.arguments[0].hasSuffix("/*.conf") {
                    return []
                }
                guard directive.arguments.count == 1, !directive.arguments[0].contains("*") else {
                    throw Malformed(description: "include \(directive.arguments) in \(url.lastPathComponent)")
                }
                return try read(url.deletingLastPathComponent().appendingPathComponent(directive.arguments[0]), depth: depth + 1)
            }
            guard let block = directive.block else { return [directive] }
            return [Directive(name: directive.name, arguments: directive.arguments, block: try inline(block, from: url, depth: depth))]
        }
    }

    /// A token: a word or quoted string, or one of `{`, `}`, `;`.
    private enum Token: Equatable {
        case word(String)
        case open, close, end
    }

    private static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        var characters = text.makeIterator()
        var word = ""
        func flush() {
            if !word.isEmpty { tokens.append(.word(word)) }
            word = ""
        }
        while let character = characters.next() {
            switch character {
            case " ", "\t", "\n", "\r":
                flush()
            case "#" where word.isEmpty:
                while let next = characters.next(), next != "\n" {}
            case "{", "}", ";":
                flush()
                tokens.append(character == "{" ? .open : character == "}" ? .close : .end)
            case "'" where word.isEmpty, "\"" where word.isEmpty:
                var quoted = ""
                while true {
                    guard let next = characters.next() else { throw Malformed(description: "an unterminated string") }
                    if next == character { break }
                    if next == "\\", let escaped = characters.next() {
                        quoted.append(escaped)
                    } else {
                        quoted.append(next)
                    }
                }
                tokens.append(.word(quoted))
            default:
                word.append(character)
            }
        }
        flush()
        return tokens
    }

    private static func parseBlock(_ tokens: inout ArraySlice<Token>, closed: Bool) throws -> [Directive] {
        var directives: [Directive] = []
        var words: [String] = []
        while let token = tokens.popFirst() {
            switch token {
            case .word(let word):
                words.append(word)
            case .end:
                guard let name = words.first else { throw Malformed(description: "a lone ';'") }
                directives.append(Directive(name: name, arguments: Array(words.dropFirst()), block: nil))
                words = []
            case .open:
                guard let name = words.first else { throw Malformed(description: "a block without a directive") }
                directives.append(Directive(name: name, arguments: Array(words.dropFirst()), block: try parseBlock(&tokens, closed: true)))
                words = []
            case .close:
                guard closed, words.isEmpty else { throw Malformed(description: "an unbalanced '}' or a directive without ';'") }
                return directives
            }
        }
        guard !closed, words.isEmpty else { throw Malformed(description: "a block or directive that does not end") }
        return directives
    }
}

/// The compose gateway's routes as ``GatewayRoutes`` entries, read from its `location` blocks.
struct NginxRouteTable {
    /// One route as text, the same for both tables: `path /notes/{} -> notes`, `prefix /app/ -> webClient`.
    typealias Line = String

    /// Every location that answers something other than 404, as lines, sorted.
    let routes: [Line]
    /// Whether `location /` (every path no other location takes) answers 404.
    let fallbackIsNotFound: Bool
    /// The body `location @not_found` answers with, and its `default_type`.
    let notFound: (body: String, contentType: String)
    /// The body `location = /healthz` answers with.
    let healthBody: String

    /// The table of the configuration at `url` (nginx.conf, its includes inlined).
    init(contentsOf url: URL) throws {
        let configuration = try NginxConfiguration(contentsOf: url)
        var routes: [Line] = []
        var fallbackIsNotFound = false
        var healthBody: String?
        for location in configuration.all("location") where location.arguments.first?.hasPrefix("@") == false {
            let patterns = try Self.patterns(location.arguments)
            let destination = try Self.destination(location)
            if location.arguments == ["/"] {
                fallbackIsNotFound = destination == nil
                continue
            }
            guard let destination else { throw NginxConfiguration.Malformed(description: "\(location.arguments) answers 404 itself") }
            if destination == .health { healthBody = location.children("return").first?.arguments.last }
            routes += patterns.map { Self.line($0, destination) }
        }
        guard let named = configuration.all("location").first(where: { $0.arguments == ["@not_found"] }),
            let body = named.children("return").first?.arguments, body.first == "404", body.count == 2,
            let contentType = named.children("default_type").first?.arguments.first, let healthBody
        else { throw NginxConfiguration.Malformed(description: "no `location @not_found { return 404 '…'; }` or no /healthz body") }
        self.routes = routes.sorted()
        self.fallbackIsNotFound = fallbackIsNotFound
        self.notFound = (body[1], contentType)
        self.healthBody = healthBody
    }

    /// A Swift route as a line; `{id}`-style placeholders become `{}`, as `[^/]+` does.
    static func line(_ route: GatewayRoutes.Route) -> Line {
        switch route.pattern {
        case .path(let path):
            let segments = path.split(separator: "/", omittingEmptySubsequences: false).map {
                GatewayRoutes.Pattern.isPlaceholder($0) ? "{}" : String($0)
            }
            return line(.path(segments.joined(separator: "/")), route.destination)
        case .prefix:
            return line(route.pattern, route.destination)
        }
    }

    private static func line(_ pattern: GatewayRoutes.Pattern, _ destination: GatewayRoutes.Destination) -> Line {
        switch pattern {
        case .path(let path): "path \(path) -> \(destination)"
        case .prefix(let prefix): "prefix \(prefix) -> \(destination)"
        }
    }

    /// The paths a location's arguments match: `= /x` is one path, `/x/` a prefix, `~ regex` the paths the regex
    /// expands to.
    private static func patterns(_ arguments: [String]) throws -> [GatewayRoutes.Pattern] {
        switch arguments.count {
        case 1:
            return [.prefix(arguments[0])]
        case 2 where arguments[0] == "=":
            return [.path(arguments[1])]
        case 2 where arguments[0] == "~":
            return try RegexPaths.expand(arguments[1]).map { .path($0) }
        default:
            throw NginxConfiguration.Malformed(description: "location \(arguments.joined(separator: " ")): a modifier these tests do not read")
        }
    }

    /// Where a location sends requests; nil for `return 404`.
    private static func destination(_ location: NginxConfiguration.Directive) throws -> GatewayRoutes.Destination? {
        if let proxy = location.children("proxy_pass").first?.arguments.first {
            switch proxy {
            case "http://$identity_upstream": return .identity
            case "http://$notes_upstream": return .notes
            default: throw NginxConfiguration.Malformed(description: "proxy_pass \(proxy): an upstream authctl up does not have")
            }
        }
        if !location.children("try_files").isEmpty { return .webClient }
        guard let answer = location.children("return").first?.arguments, let status = answer.first.flatMap(Int.init) else {
            throw NginxConfiguration.Malformed(description: "location \(location.arguments): neither proxied, files nor a return")
        }
        switch (status, answer.count) {
        case (404, 1): return nil
        case (301...308, 2): return .redirect(status: status, location: answer[1])
        case (200, 2): return .health
        default: throw NginxConfiguration.Malformed(description: "location \(location.arguments): return \(answer)")
        }
    }
}

/// The paths that the regexes of routes.conf's `location ~` blocks match, written as ``GatewayRoutes/Pattern/path(_:)``
/// patterns. Only the subset those regexes use: `^…$` around literal characters, `(?:a|b)` groups, `?` after a group,
/// and `[^/]+` (one segment, written `{}`). Anything else is refused rather than guessed at.
enum RegexPaths {
    /// The paths `regex` matches, each once.
    static func expand(_ regex: String) throws -> [String] {
        guard regex.hasPrefix("^"), regex.hasSuffix("$") else { throw unsupported(regex, "not anchored with ^…$") }
        var rest = Substring(regex.dropFirst().dropLast())
        let paths = try alternatives(&rest, regex)
        guard rest.isEmpty else { throw unsupported(regex, "an unbalanced ')'") }
        return paths
    }

    /// `sequence ('|' sequence)*`, up to an unconsumed `)` or the end.
    private static func alternatives(_ rest: inout Substring, _ regex: String) throws -> [String] {
        var paths = try sequence(&rest, regex)
        while rest.first == "|" {
            rest.removeFirst()
            paths += try sequence(&rest, regex)
        }
        return paths
    }

    /// Literals, groups and segments, up to `|`, `)` or the end.
    private static func sequence(_ rest: inout Substring, _ regex: String) throws -> [String] {
        var paths = [""]
        while let character = rest.first, character != "|", character != ")" {
            if rest.hasPrefix("(?:") {
                rest.removeFirst(3)
                var group = try alternatives(&rest, regex)
                guard rest.first == ")" else { throw unsupported(regex, "an unclosed group") }
                rest.removeFirst()
                if rest.first == "?" {
                    rest.removeFirst()
                    group.append("")
                }
                paths = paths.flatMap { path in group.map { path + $0 } }
            } else if rest.hasPrefix("[^/]+") {
                rest.removeFirst(5)
                paths = paths.map { $0 + "{}" }
            } else if "\\.*+?()[]{}^$".contains(character) {
                throw unsupported(regex, "'\(character)'")
            } else {
                rest.removeFirst()
                paths = paths.map { $0 + String(character) }
            }
        }
        return paths
    }

    private static func unsupported(_ regex: String, _ what: String) -> NginxConfiguration.Malformed {
        NginxConfiguration.Malformed(description: "location ~ \(regex): \(what) (extend RegexPaths, or write the route as `location =`)")
    }
}

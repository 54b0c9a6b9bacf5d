/// A plugin's declared license: an SPDX license expression, and whether emud (GPL-2.0-or-later) may link it.
///
/// The expression grammar is SPDX's: identifiers (with an optional `+`), `WITH exception`, `AND`, `OR` and
/// parentheses, case-insensitive operators. `A OR B` is compatible if either side is; `A AND B` if both are;
/// `X WITH exception` if X is (the exceptions SPDX lists only grant permissions). An identifier not in the
/// table counts as incompatible, so an unknown license is refused rather than guessed at.
public struct PluginLicense: Sendable, Equatable {
    public let expression: String
    public let isGPLCompatible: Bool
    /// Why the expression is not compatible (or could not be read), for the refusal message.
    public let reason: String?

    /// SPDX identifiers whose terms let their code be combined with GPL-2.0-or-later code (FSF's list of
    /// GPL-compatible free software licenses, restricted to those compatible with GPLv2 or with GPLv3 as
    /// "or later" allows).
    public static let compatibleIdentifiers: Set<String> = [
        "GPL-1.0-or-later", "GPL-1.0+", "GPL-2.0", "GPL-2.0-only", "GPL-2.0-or-later", "GPL-2.0+", "GPL-3.0", "GPL-3.0-only", "GPL-3.0-or-later",
        "GPL-3.0+", "LGPL-2.0", "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.0+", "LGPL-2.1", "LGPL-2.1-only",
        "LGPL-2.1-or-later", "LGPL-2.1+", "LGPL-3.0", "LGPL-3.0-only", "LGPL-3.0-or-later", "LGPL-3.0+",
        "MIT", "MIT-0", "X11", "ISC", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear", "0BSD", "Zlib",
        "Apache-2.0", "MPL-2.0", "Unlicense", "CC0-1.0", "BSL-1.0", "WTFPL", "Artistic-2.0", "PSF-2.0",
        "Python-2.0", "NCSA", "UPL-1.0", "curl", "libpng-2.0", "FTL", "OpenSSL-standalone", "AGPL-3.0",
        "AGPL-3.0-only", "AGPL-3.0-or-later", "EUPL-1.2", "CECILL-2.0", "ECL-2.0", "EFL-2.0", "Unicode-DFS-2016",
    ]

    public init(expression: String) {
        self.expression = expression
        do {
            // Bounds keep parsing and evaluation (both recursive) shallow whatever a plugin declares.
            guard expression.utf8.count <= Self.maximumLength else {
                throw ParseError(message: "it is longer than \(Self.maximumLength) bytes")
            }
            var parser = Parser(text: expression)
            let node = try parser.parse()
            let (ok, why) = node.evaluate()
            isGPLCompatible = ok
            reason = ok ? nil : why
        } catch let error as ParseError {
            isGPLCompatible = false
            reason = "'\(expression)' is not a valid SPDX license expression (\(error.message))"
        } catch {
            isGPLCompatible = false
            reason = "'\(expression)' is not a valid SPDX license expression"
        }
    }

    struct ParseError: Error { let message: String }

    /// Longer expressions and deeper parentheses than these are refused as not valid.
    static let maximumLength = 4096
    static let maximumNesting = 32

    indirect enum Node {
        case license(String)
        case with(Node, String)
        case and(Node, Node)
        case or(Node, Node)

        func evaluate() -> (Bool, String) {
            switch self {
            case .license(let id):
                let canonical = PluginLicense.compatibleIdentifiers.first { $0.lowercased() == id.lowercased() }
                return canonical != nil ? (true, "") : (false, "'\(id)' is not a license emud knows to be GPL-compatible")
            case .with(let node, _):
                return node.evaluate()
            case .and(let a, let b):
                let (x, wx) = a.evaluate(), (y, wy) = b.evaluate()
                return (x && y, !x ? wx : wy)
            case .or(let a, let b):
                let (x, wx) = a.evaluate(), (y, wy) = b.evaluate()
                return (x || y, "\(wx); \(wy)")
            }
        }
    }

    struct Parser {
        var tokens: [String]
        var position = 0
        var nesting = 0

        init(text: String) {
            var out: [String] = []
            var current = ""
            for ch in text {
                if ch == "(" || ch == ")" {
                    if !current.isEmpty { out.append(current); current = "" }
                    out.append(String(ch))
                } else if ch.isWhitespace {
                    if !current.isEmpty { out.append(current); current = "" }
                } else {
                    current.append(ch)
                }
            }
            if !current.isEmpty { out.append(current) }
            tokens = out
        }

        var peek: String? { position < tokens.count ? tokens[position] : nil }

        mutating func parse() throws -> Node {
            guard !tokens.isEmpty else { throw ParseError(message: "it is empty") }
            let node = try parseOr()
            if let extra = peek { throw ParseError(message: "unexpected '\(extra)'") }
            return node
        }

        mutating func parseOr() throws -> Node {
            var node = try parseAnd()
            while peek?.uppercased() == "OR" {
                position += 1
                node = .or(node, try parseAnd())
            }
            return node
        }

        mutating func parseAnd() throws -> Node {
            var node = try parseWith()
            while peek?.uppercased() == "AND" {
                position += 1
                node = .and(node, try parseWith())
            }
            return node
        }

        mutating func parseWith() throws -> Node {
            let node = try parsePrimary()
            if peek?.uppercased() == "WITH" {
                position += 1
                guard let exception = peek, isIdentifier(exception) else { throw ParseError(message: "WITH needs an exception identifier") }
                position += 1
                return .with(node, exception)
            }
            return node
        }

        mutating func parsePrimary() throws -> Node {
            guard let token = peek else { throw ParseError(message: "it ends early") }
            if token == "(" {
                position += 1
                nesting += 1
                defer { nesting -= 1 }
                guard nesting <= PluginLicense.maximumNesting else {
                    throw ParseError(message: "parentheses nest deeper than \(PluginLicense.maximumNesting) levels")
                }
                let node = try parseOr()
                guard peek == ")" else { throw ParseError(message: "a parenthesis is not closed") }
                position += 1
                return node
            }
            guard isIdentifier(token), !["AND", "OR", "WITH"].contains(token.uppercased()) else {
                throw ParseError(message: "unexpected '\(token)'")
            }
            position += 1
            return .license(token)
        }

        func isIdentifier(_ s: String) -> Bool {
            !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "+" || $0 == ":" }
        }
    }
}

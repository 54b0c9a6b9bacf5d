// emud: a libFuzzer harness for the SPDX license-expression reader that decides whether a plugin
// may be loaded. GPL-2.0-or-later.
//
// The input is the license string a plugin declares. Checked on every input: nothing traps or
// recurses without bound; a refused expression always says why; the verdict does not depend on the
// case of operators or on extra spaces around parentheses; `X OR <compatible>` and
// `<compatible> OR X` are accepted for any valid X; `X AND <incompatible>` is refused.

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("spdx: property violated: \(message())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    let license = PluginLicense(expression: text)
    check(license.isGPLCompatible == (license.reason == nil), "'\(text)': compatible \(license.isGPLCompatible), reason \(license.reason ?? "none")")

    // Same expression with operators in another case and parentheses spaced out.
    let respaced = String(text.flatMap { $0 == "(" || $0 == ")" ? [" ", $0, " "] : [$0] })
    let recased = respaced.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
        ["and", "or", "with"].contains(word.lowercased()) ? word.lowercased() : String(word)
    }.joined(separator: " ")
    // The reader refuses expressions past its length and nesting limits; respacing and wrapping must stay within
    // them for the verdicts to be comparable.
    guard recased.utf8.count <= PluginLicense.maximumLength else { return 0 }
    let variant = PluginLicense(expression: recased)
    check(variant.isGPLCompatible == license.isGPLCompatible, "'\(text)' and '\(recased)' get different verdicts")

    // Composition only for ASCII: a combining mark after an added parenthesis would join it.
    if !text.utf8.allSatisfy({ $0 < 0x80 }) || !isValid(text) { return 0 }
    guard text.utf8.count + 32 <= PluginLicense.maximumLength, nesting(text) < PluginLicense.maximumNesting else { return 0 }
    check(PluginLicense(expression: "(\(text)) OR MIT").isGPLCompatible, "'(\(text)) OR MIT' refused")
    check(PluginLicense(expression: "GPL-2.0-or-later OR (\(text))").isGPLCompatible, "'GPL-2.0-or-later OR (\(text))' refused")
    check(!PluginLicense(expression: "(\(text)) AND Proprietary").isGPLCompatible, "'(\(text)) AND Proprietary' accepted")
    return 0
}

/// Whether the reader takes `text` as an expression (a refusal for an unknown license still counts).
func isValid(_ text: String) -> Bool {
    PluginLicense(expression: text).reason.map { !$0.contains("is not a valid SPDX license expression") } ?? true
}

/// The deepest parenthesis nesting in `text`.
func nesting(_ text: String) -> Int {
    var depth = 0, deepest = 0
    for c in text.utf8 {
        if c == UInt8(ascii: "(") { depth += 1; deepest = max(deepest, depth) } else if c == UInt8(ascii: ")") { depth -= 1 }
    }
    return deepest
}

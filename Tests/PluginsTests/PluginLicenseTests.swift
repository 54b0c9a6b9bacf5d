// The SPDX license expressions plugins declare, and which ones emud (GPL-2.0-or-later) accepts.
// SPDX-License-Identifier: GPL-2.0-or-later

import Testing
@testable import Plugins

@Suite("SPDX license expressions of plugins")
struct PluginLicenseTests {
    @Test("single GPL-compatible identifiers, with -only, -or-later and +", arguments: [
        "GPL-2.0-or-later", "GPL-2.0-only", "GPL-2.0+", "GPL-2.0", "GPL-3.0-or-later", "GPL-3.0-only", "GPL-3.0+",
        "LGPL-2.1-or-later", "LGPL-2.1+", "LGPL-3.0-only", "MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0",
        "ISC", "Zlib", "MPL-2.0", "0BSD", "CC0-1.0", "AGPL-3.0-or-later",
    ])
    func compatibleIdentifier(_ expression: String) {
        let license = PluginLicense(expression: expression)
        #expect(license.isGPLCompatible, "\(expression): \(license.reason ?? "")")
        #expect(license.reason == nil)
        #expect(license.expression == expression)
    }

    @Test("identifiers match without regard to case")
    func identifierCase() {
        #expect(PluginLicense(expression: "gpl-2.0-or-later").isGPLCompatible)
        #expect(PluginLicense(expression: "mit").isGPLCompatible)
        #expect(PluginLicense(expression: "Apache-2.0".uppercased()).isGPLCompatible)
    }

    @Test("licenses emud does not know to be GPL-compatible are refused, naming the identifier", arguments: [
        "LicenseRef-Proprietary", "Proprietary", "GPL-1.0-only", "SSPL-1.0", "BUSL-1.1", "CDDL-1.0", "EPL-1.0",
        "DocumentRef-spdx-tool:LicenseRef-MyLicense", "MIT-ish",
    ])
    func incompatibleIdentifier(_ expression: String) throws {
        let license = PluginLicense(expression: expression)
        #expect(!license.isGPLCompatible)
        let reason = try #require(license.reason)
        #expect(reason.contains("'\(expression)'"), "reason: \(reason)")
        #expect(reason.contains("GPL-compatible"), "reason: \(reason)")
        #expect(!reason.contains("not a valid SPDX"), "'\(expression)' is well formed: \(reason)")
    }

    @Test("OR needs one compatible side, AND needs both")
    func orAndAnd() {
        #expect(PluginLicense(expression: "MIT OR Apache-2.0").isGPLCompatible)
        #expect(PluginLicense(expression: "LicenseRef-Proprietary OR MIT").isGPLCompatible)
        #expect(PluginLicense(expression: "MIT OR LicenseRef-Proprietary").isGPLCompatible)
        #expect(!PluginLicense(expression: "LicenseRef-A OR LicenseRef-B").isGPLCompatible)
        #expect(PluginLicense(expression: "MIT AND BSD-3-Clause AND Zlib").isGPLCompatible)
        #expect(!PluginLicense(expression: "MIT AND LicenseRef-Proprietary").isGPLCompatible)
        #expect(!PluginLicense(expression: "LicenseRef-Proprietary AND MIT").isGPLCompatible)
        let reason = PluginLicense(expression: "MIT AND LicenseRef-Proprietary").reason ?? ""
        #expect(reason.contains("LicenseRef-Proprietary"), "the reason names the culprit: \(reason)")
    }

    @Test("AND binds tighter than OR; parentheses override")
    func precedence() {
        // (A AND MIT) OR Apache-2.0: compatible through the right side.
        #expect(PluginLicense(expression: "LicenseRef-A AND MIT OR Apache-2.0").isGPLCompatible)
        // MIT OR (Apache-2.0 AND B): compatible through the left side.
        #expect(PluginLicense(expression: "MIT OR Apache-2.0 AND LicenseRef-B").isGPLCompatible)
        // A AND (MIT OR Apache-2.0): A is not.
        #expect(!PluginLicense(expression: "LicenseRef-A AND (MIT OR Apache-2.0)").isGPLCompatible)
        #expect(PluginLicense(expression: "(MIT OR LicenseRef-A) AND (Apache-2.0 OR LicenseRef-B)").isGPLCompatible)
        #expect(!PluginLicense(expression: "(LicenseRef-A OR LicenseRef-B) AND MIT").isGPLCompatible)
        #expect(PluginLicense(expression: "((MIT))").isGPLCompatible)
        #expect(PluginLicense(expression: "(MIT OR Apache-2.0)AND BSD-2-Clause").isGPLCompatible)
    }

    @Test("WITH keeps the license's verdict: exceptions only add permissions")
    func withException() {
        #expect(PluginLicense(expression: "GPL-2.0-only WITH Classpath-exception-2.0").isGPLCompatible)
        #expect(PluginLicense(expression: "GPL-2.0-or-later WITH GCC-exception-3.1 OR MIT").isGPLCompatible)
        #expect(PluginLicense(expression: "Apache-2.0 WITH LLVM-exception").isGPLCompatible)
        #expect(!PluginLicense(expression: "LicenseRef-Proprietary WITH Classpath-exception-2.0").isGPLCompatible)
        #expect(PluginLicense(expression: "(GPL-2.0-only WITH Linux-syscall-note) AND MIT").isGPLCompatible)
    }

    @Test("operators in any case, and any whitespace between tokens", arguments: [
        "MIT or Apache-2.0", "MIT Or Apache-2.0", "MIT and BSD-2-Clause", "MIT aNd BSD-2-Clause",
        "GPL-2.0-only with Classpath-exception-2.0", "MIT  OR\tApache-2.0", " MIT ", "(MIT)\n",
    ])
    func operatorCase(_ expression: String) {
        let license = PluginLicense(expression: expression)
        #expect(license.isGPLCompatible, "\(expression.debugDescription): \(license.reason ?? "")")
    }

    @Test("operator case still decides the verdict")
    func operatorCaseVerdict() {
        #expect(!PluginLicense(expression: "MIT and LicenseRef-Proprietary").isGPLCompatible)
        #expect(PluginLicense(expression: "LicenseRef-Proprietary or MIT").isGPLCompatible)
    }

    @Test("malformed expressions are refused as unreadable", arguments: [
        "", "   ", "MIT OR", "OR MIT", "MIT AND", "MIT AND AND Apache-2.0", "MIT OR OR Apache-2.0",
        "MIT Apache-2.0", "(MIT", "MIT)", "()", "(MIT OR Apache-2.0", "MIT WITH", "WITH Classpath-exception-2.0",
        "MIT WITH (Classpath-exception-2.0)", "MIT WITH Classpath-exception-2.0 WITH LLVM-exception",
        "MIT/Apache-2.0", "GPL-2.0-or-later;", "MIT, Apache-2.0", "AND", "(OR)",
    ])
    func malformed(_ expression: String) throws {
        let license = PluginLicense(expression: expression)
        #expect(!license.isGPLCompatible)
        let reason = try #require(license.reason)
        #expect(reason.contains("not a valid SPDX license expression"), "\(expression.debugDescription): \(reason)")
    }

    @Test("an operator is not an identifier")
    func operatorAsIdentifier() {
        #expect(!PluginLicense(expression: "WITH").isGPLCompatible)
        #expect(!PluginLicense(expression: "MIT OR AND").isGPLCompatible)
    }
}

// emud: tests for the GDB remote protocol. GPL-2.0-or-later.

import GDBStub
import Testing

@Suite("GDBEndpoint")
struct GDBEndpointTests {
    @Test func parsesTheDocumentedForms() throws {
        #expect(try GDBEndpoint(parsing: "tcp:0.0.0.0:1234") == .tcp(host: "0.0.0.0", port: 1234))
        #expect(try GDBEndpoint(parsing: "tcp::1234") == .tcp(host: "127.0.0.1", port: 1234))
        #expect(try GDBEndpoint(parsing: ":1234") == .tcp(host: "127.0.0.1", port: 1234))
        #expect(try GDBEndpoint(parsing: "localhost:0") == .tcp(host: "localhost", port: 0))
        #expect(try GDBEndpoint(parsing: "tcp:[::1]:9000") == .tcp(host: "::1", port: 9000))
        #expect(try GDBEndpoint(parsing: "unix:/run/emud/vm1.gdb") == .unix(path: "/run/emud/vm1.gdb"))
        #expect(try GDBEndpoint(parsing: "unix:relative.sock") == .unix(path: "relative.sock"))
    }

    @Test func rejectsOthersWithAHelpfulMessage() {
        for bad in ["", "1234", "tcp:", "tcp:host", "tcp::99999", "tcp::-1", "tcp::http", "unix:", "tcp:::1:80"] {
            #expect(throws: GDBEndpointError.self, "\(bad)") { try GDBEndpoint(parsing: bad) }
        }
        do {
            _ = try GDBEndpoint(parsing: "tcp::99999")
        } catch {
            #expect(error.description.contains("'99999' is not a port number"))
            #expect(error.description.contains("write tcp:HOST:PORT, tcp::PORT"))
        }
    }

    @Test func descriptionRoundTrips() throws {
        for endpoint in [GDBEndpoint.tcp(host: "127.0.0.1", port: 1), .tcp(host: "::1", port: 2), .unix(path: "/x")] {
            #expect(try GDBEndpoint(parsing: endpoint.description) == endpoint)
        }
    }
}

// emud: tests for the JSON control protocol. GPL-2.0-or-later.
//
// Real sockets, real event loops, the fake commands from TestSupport.swift.

import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Control

#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(1))) struct ServerTests {
    @Test func clientRunsCommandsAndSeesTypedErrors() async throws {
        let test = try await TestServer.start()
        defer { Task { await test.stop() } }
        try await withTimeout(30, "commands") {
            let client = try await ControlClient.connect(unixSocketPath: test.path)
            #expect(client.greeting["version"]?["package"] == "emud 1.2.3")
            #expect(
                try await client.execute("machine-create", arguments: ["name": "vm1", "cpus": 2, "memory": "1G"])
                    == ["name": "vm1", "cpus": 2, "memory": .int(1 << 30)])
            #expect(try await client.execute("echo", arguments: ["value": ["deep": [1, nil]]]) == ["deep": [1, nil]])
            await #expect(
                throws: ControlError.generic("machine-create: argument 'cpus' must be an integer between 1 and 8, not 12")
            ) {
                try await client.execute("machine-create", arguments: ["name": "vm1", "cpus": 12])
            }
            await #expect(throws: ControlError.generic("machine-create: missing argument 'name' (a string)")) {
                try await client.execute("machine-create")
            }
            await #expect(
                throws: ControlError.generic("machine-create: unexpected argument 'cpu'; it accepts name, cpus, memory")
            ) {
                try await client.execute("machine-create", arguments: ["name": "x", "cpu": 1])
            }
            await #expect(throws: ControlError(.deviceNotFound, "machine-destroy: no machine named 'vm9'; query-machines lists them")) {
                try await client.execute("machine-destroy", arguments: ["name": "vm9"])
            }
            await #expect(throws: ControlError.generic("explode failed: disk on fire")) {
                try await client.execute("explode")
            }
            await #expect(throws: ControlError.self) { try await client.execute("nope") }
            #expect(try await client.execute("query-version")["package"] == "emud 1.2.3")
            await client.close()
        }
    }

    @Test func clientWithoutNegotiationGetsCommandNotFound() async throws {
        let test = try await TestServer.start()
        defer { Task { await test.stop() } }
        try await withTimeout(30, "negotiation") {
            let client = try await ControlClient.connect(unixSocketPath: test.path, negotiate: false)
            do {
                _ = try await client.execute("echo")
                Issue.record("echo ran before negotiation")
            } catch let error as ControlError {
                #expect(error.errorClass == .commandNotFound)
            }
            _ = try await client.execute("qmp_capabilities")
            #expect(try await client.execute("echo", arguments: ["value": 1]) == 1)
            await client.close()
        }
    }

    @Test func socketIsPrivateAndPeerCredentialsAreLogged() async throws {
        let test = try await TestServer.start()
        defer { Task { await test.stop() } }
        var status = stat()
        #expect(stat(test.path, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o600)
        try await withTimeout(30, "credentials") {
            let client = try await ControlClient.connect(unixSocketPath: test.path)
            let answer = try await client.execute("whoami")
            #expect(answer == ["pid": .int(Int(getpid())), "uid": .int(Int(getuid()))])
            let event = try await test.recorder.waitFor("connected") {
                if case .connected = $0 { return true } else { return false }
            }
            guard case .connected(let peer) = event else { return }
            #expect(peer.credentials == PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid()))
            #expect(peer.address == "unix:\(test.path)")
            await client.close()
        }
    }

    @Test func groupSocketIsGroupAccessible() async throws {
        let directory = makeSocketDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/group.sock"
        let server = ControlServer(commands: .init(), configuration: .init(version: testVersion))
        try await server.listen(on: .unixSocket(path: path, group: getgid()))
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o660)
        #expect(status.st_gid == getgid())
        await server.shutdown()
        #expect(access(path, F_OK) != 0)  // removed at shutdown
    }

    @Test func fiftyConcurrentClients() async throws {
        let test = try await TestServer.start()
        defer { Task { await test.stop() } }
        try await withTimeout(60, "fifty clients") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for clientNumber in 0..<50 {
                    group.addTask {
                        let client = try await ControlClient.connect(unixSocketPath: test.path)
                        // Concurrent requests on one connection, too: replies are matched by id.
                        try await withThrowingTaskGroup(of: Void.self) { requests in
                            for request in 0..<10 {
                                requests.addTask { () async throws in
                                    let value: JSONValue = ["client": .int(clientNumber), "request": .int(request)]
                                    #expect(try await client.execute("echo", arguments: ["value": value]) == value)
                                }
                            }
                            try await requests.waitForAll()
                        }
                        _ = try await client.execute("sleep", arguments: ["ms": 20])
                        await client.close()
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func eventsReachEveryNegotiatedClientAndNoOtherOnes() async throws {
        let test = try await TestServer.start()
        defer { Task { await test.stop() } }
        try await withTimeout(30, "events") {
            let clients = try await withThrowingTaskGroup(of: ControlClient.self) { group in
                for _ in 0..<5 { group.addTask { try await ControlClient.connect(unixSocketPath: test.path) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let unnegotiated = try await RawConnection(path: test.path)
            _ = try await unnegotiated.read()  // greeting
            // Every client has negotiated (connect returned), so none can miss these.
            for number in 0..<3 { test.server.events.publish("TICK", data: ["n": .int(number)]) }
            for client in clients {
                var iterator = client.events.makeAsyncIterator()
                for number in 0..<3 {
                    let event = try #require(await iterator.next())
                    #expect(event.name == "TICK")
                    #expect(event.data == ["n": .int(number)])
                    #expect(event.timestamp.seconds > 1_600_000_000)
                    #expect((0..<1_000_000).contains(event.timestamp.microseconds))
                }
            }
            // The client still in negotiation got nothing: its next line is the reply to this.
            try await unnegotiated.send("{\"execute\":\"query-version\",\"id\":1}\n")
            #expect(try await unnegotiated.read()["error"]?["class"] == "CommandNotFound")
            unnegotiated.closeNow()
            for client in clients { await client.close() }
        }
    }

    @Test func slowReaderIsDroppedAndDoesNotBlockOthers() async throws {
        let test = try await TestServer.start { $0.maximumPendingOutputBytes = 256 << 10 }
        defer { Task { await test.stop() } }
        try await withTimeout(60, "slow reader") {
            let slow = try await RawConnection(path: test.path)
            try await slow.negotiate()
            try await slow.stopReading()
            let fast = try await ControlClient.connect(unixSocketPath: test.path)
            let payload = JSONValue.string(String(repeating: "x", count: 1000))
            // About 3 MB in all, far beyond the socket buffers and the 256 KiB limit, published in
            // batches the fast client keeps up with.
            var events = fast.events.makeAsyncIterator()
            for batch in 0..<60 {
                for number in 0..<50 {
                    test.server.events.publish("BULK", data: ["n": .int(batch * 50 + number), "pad": payload])
                }
                for number in 0..<50 {
                    let event = try #require(await events.next())
                    #expect(event.data["n"] == .int(batch * 50 + number))
                }
            }
            #expect(try await fast.execute("echo", arguments: ["value": "still here"]) == "still here")
            let dropped = try await test.recorder.waitFor("the slow reader to be dropped") {
                if case .disconnected(_, let reason?) = $0 { return reason.contains("unread") }
                return false
            }
            guard case .disconnected(let peer, _) = dropped else { return }
            #expect(peer.connectionID == 1)
            slow.closeNow()
            await fast.close()
        }
    }

    /// A client that sends requests as fast as it can and reads nothing: the server stops reading it
    /// once its replies back up, never holds more than `maximumPendingOutputBytes` of unsent output
    /// for it, and serves everyone else meanwhile.
    @Test func clientFloodingRequestsWithoutReadingIsBoundedAndOthersAreServed() async throws {
        let outputLimit = 64 << 10
        let test = try await TestServer.start { $0.maximumPendingOutputBytes = outputLimit }
        defer { Task { await test.stop() } }
        try await withTimeout(60, "flooding client") {
            let flood = try await RawConnection(path: test.path)
            try await flood.negotiate()
            try await flood.stopReading()
            let request = "{\"execute\":\"query-commands\",\"id\":\"\(String(repeating: "i", count: 200))\"}\n"
            let floodRequests = 20_000
            let sent = Mutex(0)
            let writer = Task {
                // Stops when the server stops reading (backpressure) or drops the connection.
                for _ in 0..<floodRequests {
                    try await flood.send(request)
                    sent.withLock { $0 += 1 }
                }
            }
            let other = try await ControlClient.connect(unixSocketPath: test.path)
            for number in 0..<20 {
                #expect(try await other.execute("echo", arguments: ["value": .int(number)]) == .int(number))
            }

            // Let the flood run until it is stuck: the server answers no more of its requests for a
            // while (or has dropped it).
            func answered() -> Int {
                test.recorder.all.filter {
                    if case .commandFinished(let peer, "query-commands", _) = $0 { return peer.connectionID == 1 }
                    return false
                }.count
            }
            var settled = answered()
            while true {
                try await Task.sleep(for: .milliseconds(500))
                let now = answered()
                if now == settled { break }
                settled = now
            }
            let marks = await test.server.highWaterMarks()
            let dropped = test.recorder.all.contains {
                if case .disconnected(let peer, let reason?) = $0 { return peer.connectionID == 1 && reason.contains("unread") }
                return false
            }
            print("flood: sent \(sent.withLock { $0 }) of \(floodRequests) requests, the server answered \(settled)\(dropped ? " and dropped it" : ""); "
                + "high-water marks: \(marks.pendingOutputBytes) bytes of output (limit \(outputLimit)), \(marks.queuedRequests) queued requests")
            #expect(marks.pendingOutputBytes <= outputLimit, "\(marks.pendingOutputBytes) bytes of output waited for one client")
            #expect(marks.pendingOutputBytes > 0)
            #expect(settled < floodRequests, "the server answered every flooding request")
            writer.cancel()
            flood.closeNow()
            await other.close()
        }
    }

    @Test func clientDisconnectingMidCommandDoesNotDisturbOthers() async throws {
        let test = try await TestServer.start()
        defer { Task { await test.stop() } }
        try await withTimeout(30, "mid-command disconnect") {
            let leaver = try await RawConnection(path: test.path)
            try await leaver.negotiate()
            try await leaver.send("{\"execute\":\"sleep\",\"arguments\":{\"ms\":200},\"id\":1}\n")
            try await leaver.send("{\"execute\":\"sleep\",\"arguments\":{\"ms\":200},\"id\":2}\n")
            _ = try await test.recorder.waitFor("the command to start") {
                if case .commandFinished(_, "qmp_capabilities", _) = $0 { return true } else { return false }
            }
            leaver.closeNow()
            let client = try await ControlClient.connect(unixSocketPath: test.path)
            #expect(try await client.execute("echo", arguments: ["value": 7]) == 7)
            _ = try await test.recorder.waitFor("the leaver's disconnection") {
                if case .disconnected(let peer, _) = $0 { return peer.connectionID == 1 } else { return false }
            }
            // The orphaned command runs to its end and is logged; its reply goes nowhere, and the
            // request queued behind it is dropped.
            _ = try await test.recorder.waitFor("the orphaned command to finish") {
                if case .commandFinished(let peer, "sleep", nil) = $0 { return peer.connectionID == 1 } else { return false }
            }
            try await Task.sleep(for: .milliseconds(300))
            let sleeps = test.recorder.all.filter {
                if case .commandFinished(let peer, "sleep", _) = $0 { return peer.connectionID == 1 } else { return false }
            }
            #expect(sleeps.count == 1)
            #expect(try await client.execute("echo", arguments: ["value": 8]) == 8)
            await client.close()
        }
    }

    @Test func overlongLineOnARealSocketClosesOnlyThatConnection() async throws {
        let test = try await TestServer.start()
        defer { Task { await test.stop() } }
        try await withTimeout(30, "overlong line") {
            let abuser = try await RawConnection(path: test.path)
            try await abuser.negotiate()
            let client = try await ControlClient.connect(unixSocketPath: test.path)
            try await abuser.send(String(repeating: "[", count: (1 << 20) + 10))
            let reply = try await abuser.read()
            #expect(reply["error"]?["class"] == "GenericError")
            #expect(try await abuser.readText() == nil)
            #expect(try await client.execute("echo", arguments: ["value": true]) == true)
            await client.close()
        }
    }

    @Test func staleSocketFileIsReplaced() async throws {
        let directory = makeSocketDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/stale.sock"
        // A socket file whose process is gone: bound, never listening, closed.
        let descriptor = try makeBoundUnixSocket(path)
        close(descriptor)
        #expect(access(path, F_OK) == 0)

        let server = ControlServer(commands: makeFakeCommands(), configuration: .init(version: testVersion))
        try await server.listen(on: .unixSocket(path: path))
        try await withTimeout(30, "client on replaced socket") {
            let client = try await ControlClient.connect(unixSocketPath: path)
            #expect(try await client.execute("echo", arguments: ["value": 1]) == 1)
            await client.close()
        }
        await server.shutdown()
    }

    @Test func liveSocketIsNotStolen() async throws {
        let test = try await TestServer.start()
        defer { Task { await test.stop() } }
        let intruder = ControlServer(commands: .init(), configuration: .init(version: testVersion))
        await #expect(throws: ControlServerError.socketInUse(path: test.path)) {
            try await intruder.listen(on: .unixSocket(path: test.path))
        }
        await intruder.shutdown()
        try await withTimeout(30, "original server") {
            let client = try await ControlClient.connect(unixSocketPath: test.path)
            #expect(try await client.execute("echo", arguments: ["value": "mine"]) == "mine")
            await client.close()
        }
    }

    @Test func otherFilesAreNeverRemoved() async throws {
        let directory = makeSocketDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/regular"
        let file = open(path, O_CREAT | O_WRONLY, 0o600)
        close(file)
        let server = ControlServer(commands: .init(), configuration: .init(version: testVersion))
        await #expect(throws: ControlServerError.notASocket(path: path)) {
            try await server.listen(on: .unixSocket(path: path))
        }
        #expect(access(path, F_OK) == 0)
        let long = directory + "/" + String(repeating: "s", count: 120)
        await #expect(throws: ControlServerError.self) { try await server.listen(on: .unixSocket(path: long)) }
    }

    @Test func adoptedSocketIsServed() async throws {
        let directory = makeSocketDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/adopted.sock"
        let descriptor = try makeBoundUnixSocket(path)
        #expect(listen(descriptor, 8) == 0)  // as systemd hands it over
        let server = ControlServer(commands: makeFakeCommands(), configuration: .init(version: testVersion))
        try await server.listen(on: .adoptedSocket(descriptor: descriptor))
        try await withTimeout(30, "client on adopted socket") {
            let client = try await ControlClient.connect(unixSocketPath: path)
            #expect(try await client.execute("echo", arguments: ["value": "adopted"]) == "adopted")
            await client.close()
        }
        await server.shutdown()
    }

    @Test func tcpListensOnLoopbackOnly() async throws {
        let recorder = EventRecorder()
        let server = ControlServer(
            commands: makeFakeCommands(), configuration: .init(version: testVersion), onEvent: recorder.callback)
        await #expect(throws: ControlServerError.notLoopback(host: "0.0.0.0")) {
            try await server.listen(on: .tcp(host: "0.0.0.0", port: 0))
        }
        let address = try #require(try await server.listen(on: .tcp(host: "127.0.0.1", port: 0)))
        let port = try #require(address.port)
        try await withTimeout(30, "tcp client") {
            let client = try await ControlClient.connect(host: "127.0.0.1", port: port)
            #expect(try await client.execute("whoami") == ["pid": -1, "uid": 0])  // no credentials over TCP
            await client.close()
        }
        #expect(recorder.all.contains { if case .listening("127.0.0.1:\(port)") = $0 { true } else { false } })
        await server.shutdown()
    }

    @Test func shutdownClosesClientsAndRemovesTheSocket() async throws {
        let test = try await TestServer.start()
        try await withTimeout(30, "shutdown") {
            let client = try await ControlClient.connect(unixSocketPath: test.path)
            await test.server.shutdown()
            await #expect(throws: ControlClientError.connectionClosed) { try await client.execute("echo") }
            #expect(access(test.path, F_OK) != 0)
            var iterator = client.events.makeAsyncIterator()
            #expect(await iterator.next() == nil)
        }
        removeDirectory(test.directory)
    }

    @Test func clientErrorsAreClear() async throws {
        let directory = makeSocketDirectory()
        defer { removeDirectory(directory) }
        await #expect(throws: ControlClientError.self) {
            try await ControlClient.connect(unixSocketPath: directory + "/nothing.sock")
        }
    }
}

/// A unix socket bound to `path` (not listening), as a dead process or systemd would leave it.
func makeBoundUnixSocket(_ path: String) throws -> Int32 {
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(path.utf8)
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    try #require(result == 0, "bind \(path): errno \(errno)")
    return descriptor
}

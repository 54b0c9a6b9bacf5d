import ArgumentParser
import Control
import Foundation

/// `emud ctl`: a command-line client of the control socket, for people and shell scripts.
struct CtlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Run one control command against a running emud daemon and print its result as JSON.",
        discussion: """
        Arguments are key=value pairs (values are typed as JSON where they parse, strings otherwise), or --json '{...}'.
        `emud ctl events` follows events until interrupted.
        Examples:
          emud ctl machine-create id=m0 image=/srv/fw.elf cpus=2 memory=256M
          emud ctl plugin-load machine=m0 path=/usr/local/lib/emud/libinsn.so 'args=["inline=on"]'
          emud ctl query-machines
        """)

    @Option(help: "Control socket path.")
    var control: String = ProcessInfo.processInfo.environment["EMUD_CONTROL"] ?? "/run/emud/emud.sock"

    @Option(help: "Arguments as one JSON object instead of key=value pairs.")
    var json: String?

    @Argument(help: "The command (e.g. query-machines), or 'events'.")
    var command: String

    @Argument(help: "key=value arguments.")
    var arguments: [String] = []

    func run() async throws {
        var args: [String: JSONValue] = [:]
        do {
            if let json {
                guard let object = try JSONValue(parsing: json).objectValue else {
                    standardError("emud ctl: --json must be a JSON object")
                    throw ExitCode(2)
                }
                args = object
            }
            for (k, v) in try parseKeyValueArguments(arguments) { args[k] = v }
        } catch let e as ExitCode {
            throw e
        } catch {
            standardError("emud ctl: \(error)")
            throw ExitCode(2)
        }
        let client: ControlClient
        do {
            client = try await ControlClient.connect(unixSocketPath: control)
        } catch {
            standardError("emud ctl: \(error)")
            throw ExitCode(1)
        }
        let pretty = isatty(1) != 0
        if command == "events" {
            for await event in client.events {
                let line = JSONValue.object(["event": .string(event.name), "data": .object(event.data),
                                             "timestamp": .object(["seconds": .int(event.timestamp.seconds),
                                                                   "microseconds": .int(event.timestamp.microseconds)])])
                print(line.serialized(prettyPrinted: false))
                fflush(stdout)
            }
            return
        }
        do {
            let result = try await client.execute(command, arguments: args)
            print(result.serialized(prettyPrinted: pretty))
            await client.close()
        } catch let error as ControlError {
            standardError("emud ctl: \(error.message.hasPrefix(command) ? error.message : "\(command): \(error.message)")")
            await client.close()
            throw ExitCode(1)
        } catch {
            standardError("emud ctl: \(command): \(error)")
            throw ExitCode(1)
        }
    }
}

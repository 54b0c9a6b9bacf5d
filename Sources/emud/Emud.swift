import ArgumentParser
import Control
import Foundation
import GDBStub
import Machine
import Plugins

@main
struct Emud: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "emud",
        abstract: "Hosts emulated AArch64 machines (QEMU's virt board) for debugging and instrumentation.",
        version: version,
        subcommands: [Run.self, DumpDTB.self, DaemonCommand.self, CtlCommand.self, PluginBuildIDCommand.self, BenchExclusive.self,
                      WorkerCommand.self],
        defaultSubcommand: nil
    )
}

func standardError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one machine in the foreground: guest console on stdout, exit status = the guest's exit code.")

    @OptionGroup var machineOptions: MachineOptions

    @Option(name: .customLong("load-address"), help: "Load IMAGE as a flat binary at this address (hex with 0x) instead of as an ELF.")
    var loadAddress: String?

    @Option(name: .customLong("semihosting-root"), help: "Allow semihosting host file access inside this directory only.")
    var semihostingRoot: String?

    @Flag(help: "Print execution statistics on stderr when the machine ends.")
    var stats = false

    @Option(name: .customLong("icount"), help: ArgumentHelp("Deterministic timer: the counter advances 2^N ns per executed instruction (like QEMU's -icount shift=N), so runs repeat exactly.", valueName: "N"))
    var icount: Int?

    @Option(name: .customLong("plugin"), help: ArgumentHelp("Load a plugin at start: PATH[,key=value...] (repeatable).", valueName: "spec"))
    var plugins: [String] = []

    @Flag(name: .customLong("allow-incompatible-plugins"), help: "Load plugins whose license is not GPL-compatible (taints emud).")
    var allowIncompatiblePlugins = false

    @Option(name: .customLong("plugin-abi"), help: "Plugin ABI check: 'version' (API version must match) or 'strict' (build id must match too).")
    var pluginABI: String = "version"

    @Option(help: ArgumentHelp("Serve the GDB remote protocol: tcp:[HOST]:PORT (host defaults to 127.0.0.1) or unix:PATH.", valueName: "endpoint"))
    var gdb: String?

    @Flag(name: .customLong("wait-gdb"), help: "Hold the machine before its first instruction until gdb attaches and continues (like QEMU's -S).")
    var waitGDB = false

    @Option(name: .customLong("drive"), help: ArgumentHelp(
        "A virtio-blk disk from a raw image: file=PATH[,format=raw][,readonly=on][,serial=ID] (repeatable; ',,' is a comma in PATH). Like QEMU's -drive file=PATH,format=raw,if=none,id=dN -device virtio-blk-device,drive=dN: the first --drive gets the virtio-mmio transport QEMU gives the first -device (0x0a003e00, SPI 47), the next the one below it. if=none and id= are accepted and ignored. The transports are virtio 1.x (QEMU: -global virtio-mmio.force-legacy=false).",
        valueName: "spec"))
    var drives: [String] = []

    @Option(name: .customLong("device"), help: ArgumentHelp(
        "Add a device: virtio-rng, an entropy source fed from the host (QEMU's -device virtio-rng-device; the virt board has none by default). It takes the next virtio-mmio transport after the drives'.",
        valueName: "name"))
    var devices: [String] = []

    @Option(name: .customLong("dump-jit"), help: ArgumentHelp(
        "Write every block the translator compiles to PATH ('-': standard error): each guest instruction, disassembled, with the x86-64 code made for it, then the block's exits and slow paths (like QEMU's -d in_asm,out_asm -D PATH).",
        valueName: "path"))
    var dumpJIT: String?

    @Argument(help: "The guest image (ELF64 AArch64, or a flat binary with --load-address); not with --kernel or --bios.")
    var image: String?

    func run() throws {
        // The flags describe a machine the way the daemon's machine-create and configuration file do, and are
        // decoded by the same rules.
        var extra: [String: JSONValue] = [:]
        if let gdb { extra["gdb"] = .string(gdb) }
        do {
            var driveObjects: [JSONValue] = []
            for text in drives { driveObjects.append(try DriveSpec.object(commandLine: text)) }
            if !driveObjects.isEmpty { extra["drives"] = .array(driveObjects) }
        } catch {
            standardError("emud: \(error.description) (--\(error.key))")
            throw ExitCode(2)
        }
        if !devices.isEmpty { extra["devices"] = .array(devices.map { .string($0) }) }
        let spec = try machineOptions.spec(image: image, extra: extra, command: "emud run")
        let ramSize = spec.memory
        let guest: GuestImage
        if let loadAddress {
            let text = loadAddress.hasPrefix("0x") ? String(loadAddress.dropFirst(2)) : loadAddress
            guard let address = UInt64(text, radix: 16) else {
                standardError("emud: invalid --load-address '\(loadAddress)': use a hex address such as 0x40080000")
                throw ExitCode(2)
            }
            do { guest = try ELFLoader.flat(path: spec.image, address: address) } catch {
                standardError("emud: \(error)")
                throw ExitCode(2)
            }
        } else {
            do { guest = try spec.guestImage() } catch {
                standardError("emud: \(error)")
                throw ExitCode(2)
            }
        }
        var config = MachineConfiguration(cpus: spec.cpus, ramSize: ramSize)
        if let semihostingRoot {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: semihostingRoot, isDirectory: &isDirectory), isDirectory.boolValue else {
                standardError("emud: --semihosting-root \(semihostingRoot) is not a directory")
                throw ExitCode(2)
            }
        }
        config.semihostingRoot = semihostingRoot
        if let icount { config.clock = .instructions(shift: icount) }
        spec.applyDevices(to: &config)
        var dumpWriter: JITDumpWriter? = nil
        if let dumpJIT {
            guard config.engine == .jit else {
                standardError("emud: --dump-jit shows the translator's code: use it with --engine jit (the engine is \(config.engine.rawValue))")
                throw ExitCode(2)
            }
            do { dumpWriter = try JITDumpWriter(path: dumpJIT) } catch {
                standardError("emud: --dump-jit: \(error)")
                throw ExitCode(2)
            }
            config.jitDump = dumpWriter?.sink
        }
        let machine: Machine
        do {
            machine = try Machine(configuration: config, console: Console.fileDescriptor(1))
            machine.board.virtio.onDeviceError { standardError("emud: \($0)") }
            try machine.load(guest)
        } catch {
            standardError("emud: \(error)")
            throw ExitCode(2)
        }
        guard pluginABI == "version" || pluginABI == "strict" else {
            standardError("emud: --plugin-abi must be 'version' or 'strict', not '\(pluginABI)'")
            throw ExitCode(2)
        }
        let host = PluginHost(machine: machine,
                              policy: PluginPolicy(allowIncompatibleLicenses: allowIncompatiblePlugins, strictABI: pluginABI == "strict"),
                              log: { message, fields in
                                  // Plugin output is printed once, when the machine ends.
                                  if fields["PLUGIN_OUTPUT"] == nil { standardError("emud: " + message) }
                              })
        for text in plugins {
            do {
                let plugin = try PluginSpec(commandLine: text)
                try host.load(path: plugin.path, arguments: plugin.arguments)
            } catch {
                standardError("emud: \(error)")
                throw ExitCode(2)
            }
        }
        var server: GDBServer? = nil
        if let gdb {
            let endpoint: GDBEndpoint
            do { endpoint = try GDBEndpoint(parsing: gdb) } catch {
                standardError("emud: --gdb: \(error)")
                throw ExitCode(2)
            }
            let adapter = GDBAdapter(machine: machine, plugins: host)
            let s = GDBServer(endpoint: endpoint, target: adapter, onEvent: { standardError("emud: \($0)") })
            let failure = blockingAwait { () async -> Error? in
                do { try await s.start(); return nil } catch { return error }
            }
            if let failure {
                standardError("emud: \(failure)")
                throw ExitCode(2)
            }
            server = s
            standardError("emud: gdb stub on \(endpoint); attach with: gdb-multiarch \(spec.image) -ex 'target remote \(endpoint.gdbTargetString)'")
        } else if waitGDB {
            standardError("emud: --wait-gdb needs --gdb ENDPOINT")
            throw ExitCode(2)
        }
        if spec.kernel != nil || spec.bios != nil {
            // A kernel or firmware talks on the serial console: standard input types into it (QEMU -nographic).
            let uart = machine.board.uart
            let reader = Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = buffer.withUnsafeMutableBytes { Foundation.read(0, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    uart.receive(Array(buffer.prefix(n)))
                }
            }
            reader.name = "console-input"
            reader.start()
        }
        let started = Date()
        machine.start(paused: waitGDB)
        let final = machine.waitForFinish()
        let seconds = Date().timeIntervalSince(started)
        machine.shutdown()
        if let server {
            // Give the exit report (gdb's W packet) a moment to leave before the connection closes.
            Thread.sleep(forTimeInterval: 0.2)
            blockingAwait { () async -> Void in await server.stop() }
        }
        for (info, output) in host.unloadAll() where !output.isEmpty {
            standardError("plugin \(info.name) (id \(info.id)):")
            FileHandle.standardError.write(Data((output.hasSuffix("\n") ? output : output + "\n").utf8))
        }
        if stats {
            let t = machine.translationStatistics
            var line = String(format: "emud-stats: instructions=%llu seconds=%.6f blocks=%llu flushes=%llu invalidations=%llu",
                              machine.instructionsExecuted, seconds, t.blocksTranslated, t.flushes, t.invalidations)
            for (group, count) in machine.undefinedInstructions.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                line += " undefined.\(group.name)=\(count)"
            }
            if let j = machine.jitStatistics {
                line += " jit.blocks=\(j.blocksCompiled) jit.interpreted=\(j.blocksInterpreted) jit.ops=\(j.operationsCompiled)"
                    + " jit.delegated=\(j.operationsDelegated) jit.bytes=\(j.codeBytesUsed) jit.links=\(j.links) jit.indirect=\(j.indirectLinks)"
                    + String(format: " jit.compile_ms=%.1f", Double(j.compileNanoseconds) / 1e6)
                for (name, count) in j.delegatedByOperation.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }).prefix(8) {
                    line += " jit.delegated.\(name)=\(count)"
                }
            }
            standardError(line)
        }
        switch final {
        case .exited(let code)?:
            throw ExitCode(code)
        case .failed(let message)?:
            standardError("emud: machine failed: \(message)")
            throw ExitCode(125)
        default:
            throw ExitCode(125)
        }
    }
}

struct PluginBuildIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin-build-id",
        abstract: "Print this emud build's id, for plugins built for --plugin-abi=strict (-DEMUD_PLUGIN_BUILD_ID='\"...\"').")

    func run() throws {
        print(PluginBuildID.current)
    }
}

/// Runs async work from synchronous code (the foreground `run` command) and waits for its result.
func blockingAwait<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let semaphore = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task {
        box.value = await work()
        semaphore.signal()
    }
    semaphore.wait()
    return box.value!
}

final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

extension GDBEndpoint {
    /// What to type after `target remote`.
    var gdbTargetString: String {
        switch self {
        case .tcp(let host, let port): return "\(host):\(port)"
        case .unix(let path): return path
        case .adopted: return "the socket systemd passed"
        }
    }
}

import Control
import Foundation
import Machine

/// A virtio-blk disk of a machine description: `{"file": PATH, "format": "raw", "readonly": false,
/// "serial": ID}` in `drives` (machine-create, the configuration file), `--drive file=PATH,format=raw[,...]` for
/// `emud run`. Only raw images: a qcow2 image is refused with the conversion command, never read as raw.
struct DriveSpec: Equatable {
    var file: String
    var readOnly = false
    var serial = ""

    static let keys = ["file", "format", "readonly", "serial"]
    static let serialLimit = 20

    var configuration: DriveConfiguration { DriveConfiguration(path: file, readOnly: readOnly, serial: serial) }

    var json: JSONValue {
        var object: [String: JSONValue] = ["file": .string(file), "format": .string("raw"), "readonly": .bool(readOnly)]
        if !serial.isEmpty { object["serial"] = .string(serial) }
        return .object(object)
    }

    /// Decodes one entry of `drives`; `context` names where it came from ("machine-create: drives[0]").
    init(decoding value: JSONValue, context: String) throws(MachineSpec.Problem) {
        guard let object = value.objectValue else {
            throw MachineSpec.Problem(key: "drives", description: "\(context): each drive must be an object {\"file\": PATH, \"format\": \"raw\", \"readonly\": false}")
        }
        for key in object.keys.sorted() where !Self.keys.contains(key) {
            throw MachineSpec.Problem(key: "drives", description: "\(context): a drive has an unknown key '\(key)' (known: \(Self.keys.joined(separator: ", ")))")
        }
        let args = ControlArguments(command: context, values: object)
        do throws(ControlError) {
            file = try args.string("file")
            if let format = try args.optionalString("format"), format != "raw" {
                throw ControlError.generic("\(context): drive \(file) has format '\(format)', but emud reads raw images only; convert it with `qemu-img convert -O raw \(file) disk.raw`")
            }
            readOnly = try args.optionalBool("readonly") ?? false
            serial = try args.optionalString("serial") ?? ""
        } catch {
            throw MachineSpec.Problem(key: "drives", description: error.message)
        }
        guard !file.isEmpty else { throw MachineSpec.Problem(key: "drives", description: "\(context): a drive's 'file' is empty") }
        guard serial.utf8.count <= Self.serialLimit else {
            throw MachineSpec.Problem(key: "drives", description: "\(context): a drive's serial is at most \(Self.serialLimit) bytes")
        }
    }

    /// `emud run --drive` in QEMU's `-drive` syntax: `key=value` pairs separated by commas, a doubled comma
    /// standing for a comma in a value. `if=none` or `if=virtio` and `id=` are accepted and ignored (each
    /// `--drive` is its own virtio-blk device, as QEMU's `-drive if=none,id=X -device virtio-blk-device,drive=X`);
    /// any other key is refused. Returns the drive as a `drives` entry.
    static func object(commandLine text: String) throws(MachineSpec.Problem) -> JSONValue {
        var pairs: [String] = []
        var current = ""
        var characters = Array(text)[...]
        while let c = characters.popFirst() {
            if c == "," {
                if characters.first == "," { current.append(","); characters.removeFirst(); continue }
                pairs.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        pairs.append(current)
        var object: [String: JSONValue] = [:]
        func problem(_ why: String) -> MachineSpec.Problem { MachineSpec.Problem(key: "drive", description: "--drive \(text): \(why)") }
        for pair in pairs where !pair.isEmpty {
            guard let equals = pair.firstIndex(of: "=") else { throw problem("'\(pair)' is not key=value") }
            let key = String(pair[..<equals])
            let value = String(pair[pair.index(after: equals)...])
            switch key {
            case "file", "format", "serial": object[key] = .string(value)
            case "readonly":
                switch value {
                case "on", "true", "yes": object[key] = .bool(true)
                case "off", "false", "no": object[key] = .bool(false)
                default: throw problem("readonly must be on or off, not '\(value)'")
                }
            case "if":
                guard value == "none" || value == "virtio" else {
                    throw problem("if=\(value) is not available: every --drive is a virtio-blk disk on a virtio-mmio transport")
                }
            case "id": break
            default:
                throw problem("unknown key '\(key)' (known: file, format, readonly, serial; if=none and id= are ignored)")
            }
        }
        guard object["file"] != nil else { throw problem("file=PATH is missing") }
        return .object(object)
    }
}

extension MachineSpec {
    /// The spec's disks, devices and execution engine, for the machine's configuration.
    func applyDevices(to configuration: inout MachineConfiguration) {
        configuration.drives = drives.map(\.configuration)
        configuration.virtioRNG = devices.contains("virtio-rng")
        configuration.engine = engine
    }

    /// The worker's arguments that let its sandbox open the drives: read-only ones for reading only.
    var driveSandboxArguments: [String] {
        drives.flatMap { [$0.readOnly ? "--drive-ro" : "--drive-rw", $0.file] }
    }
}

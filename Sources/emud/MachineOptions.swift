import ArgumentParser
import Control
import Foundation
import Machine

/// The flags that describe a machine, shared by `emud run` and `emud dumpdtb` (which must build the same board)
/// and decoded by the same rules as the daemon's machine-create and configuration file (``MachineSpec``).
struct MachineOptions: ParsableArguments {
    @Option(help: "Number of vCPUs (1-\(MachineConfiguration.maxCPUs)).")
    var cpus: Int = 1

    @Option(help: "Guest RAM size, e.g. 128M or 1G.")
    var memory: String = "128M"

    @Option(help: "Boot a Linux kernel as QEMU's -kernel does: an arm64 Image (gzip-compressed or not) or an ELF.")
    var kernel: String?

    @Option(help: "Initial RAM disk for --kernel (QEMU's -initrd).")
    var initrd: String?

    @Option(help: "Kernel command line for --kernel (QEMU's -append).")
    var append: String?

    @Option(help: "Boot with this device tree blob instead of emud's own; its /memory and /chosen are rewritten.")
    var dtb: String?

    @Option(help: "Firmware for the first flash bank at address 0 (QEMU's -bios).")
    var bios: String?

    @Option(help: ArgumentHelp("How guest code runs: interp (the interpreter, the reference) or jit (blocks compiled to x86-64 host code). Default: $EMUD_ENGINE, else jit on x86-64 hosts (interp elsewhere).", valueName: "engine"))
    var engine: String?

    /// The machine description these flags make, with `image` (the positional ELF) if given.
    func description(image: String?) -> [String: JSONValue] {
        var description: [String: JSONValue] = ["id": .string("machine0"), "cpus": .int(cpus), "memory": .string(memory)]
        if let engine { description["engine"] = .string(engine) }
        for (key, value) in [("image", image), ("kernel", kernel), ("initrd", initrd), ("append", append),
                             ("dtb", dtb), ("bios", bios)] {
            if let value { description[key] = .string(value) }
        }
        return description
    }

    /// Decodes the flags into a spec; a mistake is printed as the flag it concerns and exits with status 2.
    func spec(image: String?, extra: [String: JSONValue] = [:], command: String) throws -> MachineSpec {
        do {
            return try MachineSpec(decoding: description(image: image).merging(extra) { $1 }, context: command)
        } catch {
            standardError("emud: \(error.description) (--\(error.key))")
            throw ExitCode(2)
        }
    }
}

struct DumpDTB: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dumpdtb",
        abstract: "Write the device tree blob a machine with these options boots with (as QEMU's -M virt,dumpdtb=FILE).")

    @OptionGroup var machine: MachineOptions

    @Argument(help: "Where to write the DTB.")
    var file: String

    func run() throws {
        let spec = try machine.spec(image: machine.kernel == nil && machine.bios == nil ? "-" : nil, command: "emud dumpdtb")
        let blob: [UInt8]
        do {
            if spec.kernel != nil {
                // The tree of a Linux boot is the last thing the loader places.
                guard let tree = try spec.guestImage().segments.last else { throw ExitCode(2) }
                blob = tree.bytes
            } else {
                blob = try VirtBoard.deviceTree(cpus: spec.cpus, ramSize: spec.memory, chosen: ChosenNode(bootargs: spec.append)).blob()
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            standardError("emud: \(error)")
            throw ExitCode(2)
        }
        guard FileManager.default.createFile(atPath: file, contents: Data(blob)) else {
            standardError("emud: cannot write \(file)")
            throw ExitCode(1)
        }
    }
}

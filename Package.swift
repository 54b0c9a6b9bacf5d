// swift-tools-version:6.0
// emud: a daemon hosting emulated AArch64 machines. GPL-2.0-or-later.
import PackageDescription

/// The interpreter's hot loop indexes unsafe buffers and touches class state on every instruction;
/// dynamic exclusivity checks there cost more than the work itself (see ../shared/FACTS.md).
let hotPathFlags: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"]),
]

let package = Package(
    name: "emud",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "emud", targets: ["emud"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CCapstone", path: "Sources/CCapstone", pkgConfig: "capstone",
            providers: [.apt(["libcapstone-dev"])]),
        .systemLibrary(
            name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        // libfdt has no pkg-config file in Debian 12; the module map links it.
        .systemLibrary(name: "CLibFDT", path: "Sources/CLibFDT", providers: [.apt(["libfdt-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CEmudPlugin", path: "Sources/CEmudPlugin"),
        .target(name: "CAtomic128", path: "Sources/CAtomic128"),
        .target(name: "CSandbox", path: "Sources/CSandbox"),
        .target(name: "CCodeMemory", path: "Sources/CCodeMemory"),
        .target(
            name: "Machine",
            dependencies: ["CAtomic128", "CCodeMemory", "CLibFDT", "CZlib", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: hotPathFlags),
        .target(
            name: "Plugins",
            dependencies: ["Machine", "CEmudPlugin", "CCapstone"]),
        .target(
            name: "GDBStub",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .target(
            name: "Control",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "emud",
            dependencies: [
                "Machine", "Plugins", "GDBStub", "Control", "CSystemd", "CSandbox", "CCapstone",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(name: "MachineTests", dependencies: ["Machine"]),
        .testTarget(name: "PluginsTests", dependencies: ["Plugins", "Machine"]),
        .testTarget(
            name: "GDBStubTests",
            dependencies: [
                "GDBStub",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(
            name: "ControlTests",
            dependencies: [
                "Control",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(name: "IntegrationTests", dependencies: ["Machine"]),
    ],
    swiftLanguageModes: [.v5]
)

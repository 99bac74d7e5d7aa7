public import Configuration
import Foundation
import Hummingbird
public import Logging
public import ServiceLifecycle
import NIOCore
import SystemSupport
import TelemetryConfiguration
public import TelemetryStatus

/// Where the control socket lives: `control.socket` (`CONTROL_SOCKET`) if set, else
/// `<name>.sock` in `$RUNTIME_DIRECTORY` (systemd's `RuntimeDirectory=`), else in
/// `$XDG_RUNTIME_DIR/telemetry`, else in `/run/telemetry` (Docs/architecture.md). `control.group`
/// (`CONTROL_GROUP`, default `telemetry`) owns it when that group exists; its mode is 0660.
public struct ControlSocketConfiguration: Sendable {
    /// The socket's path: `control.socket`, else `<name>.sock` in ``defaultDirectory(environment:)``.
    public var path: String
    /// The group the socket is given when it exists: `control.group` (`CONTROL_GROUP`), default `telemetry`.
    public var group: String
    /// The group's id, resolved once at start (nil when the group does not exist).
    public var groupID: UInt32?

    /// Reads `socket` and `group` from a reader scoped to `control` and looks the group up once; `name` (`hub`, `processor`)
    /// names the default socket file, in the directory `environment` points to. Throws when a value is
    /// present but unusable.
    public init(reader config: ConfigReader, name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        let explicit = try config.strictString("socket", default: "")
        path = explicit.isEmpty ? "\(Self.defaultDirectory(environment: environment))/\(name).sock" : explicit
        group = try config.strictString("group", default: "telemetry")
        groupID = FileSystem.groupID(named: group)
    }

    /// The socket directory when none is configured; also where `telemetryctl` looks.
    public static func defaultDirectory(environment: [String: String]) -> String {
        if let runtime = environment["RUNTIME_DIRECTORY"], !runtime.isEmpty {
            // systemd passes a colon-separated list when a unit has several.
            return String(runtime.split(separator: ":").first ?? Substring(runtime))
        }
        if let xdg = environment["XDG_RUNTIME_DIR"], !xdg.isEmpty { return "\(xdg)/telemetry" }
        return "/run/telemetry"
    }
}

/// Why the control socket could not be set up.
public struct ControlSocketError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, with the path involved and what to change.
    public let description: String
}

/// The daemon's control socket: HTTP/1.1 on a Unix socket, `GET /v1/status` → the status JSON
/// that `telemetryctl status` prints (`curl --unix-socket PATH http://localhost/v1/status`).
public enum ControlSocket {
    /// The control socket as a service of the daemon's group, with `sample` called every second
    /// to feed the status rates.
    public static func service(
        configuration: ControlSocketConfiguration,
        logger: Logger,
        status: @escaping @Sendable () async -> StatusDocument,
        sample: @escaping @Sendable () -> Void
    ) throws -> any Service {
        // A socket that cannot be restricted once it exists fails the service (and the daemon,
        // with status 1) instead of serving it to anyone.
        let (failures, report) = AsyncStream.makeStream(of: ControlSocketError.self)
        let application = try application(configuration: configuration, logger: logger, status: status) { failure in
            report.yield(failure)
            report.finish()
        }
        return ControlService(application: application, sample: sample, failures: failures)
    }

    /// Prepares the directory, refuses a socket another live instance is serving, and returns the
    /// application.
    static func application(
        configuration: ControlSocketConfiguration,
        logger: Logger,
        status: @escaping @Sendable () async -> StatusDocument,
        failed: @escaping @Sendable (ControlSocketError) -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let path = configuration.path
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        } catch {
            throw ControlSocketError(description: "cannot create the control socket directory \(directory): \(error)")
        }
        try checkPrivate(directory: directory)
        if let existing = FileStatus.of(path), existing.kind != .socket {
            throw ControlSocketError(description: "\(path) exists and is not a socket (a symlink or a file); remove it or set control.socket (CONTROL_SOCKET)")
        }
        if UnixSocket.isServed(path) {
            throw ControlSocketError(description: "control socket \(path) is served by another running instance; set control.socket (CONTROL_SOCKET) to another path")
        }
        let router = Router()
        router.get("v1/status") { _, _ in
            var body = await status()
            body.socket = path
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(body)) ?? Data("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return Application(
            router: router,
            configuration: .init(address: .unixDomainSocket(path: path)),
            onServerRunning: { _ in
                guard restrict(path, group: configuration.group, groupID: configuration.groupID, logger: logger) else {
                    // A control socket that anyone could reach, or none at all: do not run like that.
                    logger.critical("the control socket could not be restricted; stopping", metadata: ["control_socket": "\(path)"])
                    failed(ControlSocketError(description: "the control socket \(path) could not be restricted to its owner and group"))
                    return
                }
                logger.info("control socket listening", metadata: ["control_socket": "\(path)"])
            },
            logger: logger)
    }

    /// Refuses a socket directory that others could write to (they could swap the socket for a
    /// symlink between its creation and its `chmod`), or that is itself a symlink.
    static func checkPrivate(directory: String) throws {
        let info: FileStatus
        do {
            info = try FileStatus.existing(directory)
        } catch {
            throw ControlSocketError(description: "cannot inspect the control socket directory \(directory): \(error)")
        }
        guard info.kind == .directory else {
            throw ControlSocketError(description: "the control socket directory \(directory) is a symlink or not a directory; set control.socket (CONTROL_SOCKET)")
        }
        let me = FileSystem.effectiveUserID
        guard info.permissions & 0o022 == 0 || (info.permissions & 0o1000 != 0 && info.owner == me) else {
            throw ControlSocketError(description: "the control socket directory \(directory) is writable by other users (mode \(String(info.permissions, radix: 8))); "
                                     + "use a private directory (RuntimeDirectory=, $XDG_RUNTIME_DIR) or set control.socket (CONTROL_SOCKET)")
        }
        guard info.owner == me || info.owner == 0 else {
            throw ControlSocketError(description: "the control socket directory \(directory) belongs to another user (uid \(info.owner))")
        }
    }

    /// Mode 0660 and, when the group exists, group ownership, so operators in it can connect.
    /// The socket is created under the process umask (0755 by default: nobody else can connect
    /// until this runs) in a directory only this user can write, and checked with `lstat` first,
    /// so neither call can be led through a symlink. False when the mode could not be set.
    static func restrict(_ path: String, group: String, groupID: UInt32?, logger: Logger) -> Bool {
        guard let socketInfo = FileStatus.of(path), socketInfo.kind == .socket else {
            logger.error("the control socket is not a socket after bind", metadata: ["control_socket": "\(path)"])
            return false
        }
        do {
            try FileSystem.setPermissions(path, 0o660)
        } catch {
            logger.error("cannot set the control socket's mode", metadata: ["error": "\(error)"])
            return false
        }
        guard let groupID else {
            logger.debug("control socket group does not exist; keeping the process group", metadata: ["group": "\(group)"])
            return true
        }
        // Under the units the process group already is `telemetry` (and chown is filtered there).
        if socketInfo.group == groupID { return true }
        do {
            try FileSystem.setGroup(path, groupID)
        } catch {
            logger.warning("cannot give the control socket to its group", metadata: ["group": "\(group)", "error": "\(error)"])
        }
        return true
    }
}

// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

import NIOCore

/// Delivers events to every control client that has completed capabilities negotiation.
///
/// Guarantees:
/// - ``publish(_:data:)`` may be called from any thread or task, never blocks and never waits
///   for a client: the event is timestamped and encoded on the caller's thread, then handed to the
///   server's event loop, which queues it on each negotiated connection.
/// - Clients still in negotiation (before `qmp_capabilities`) receive no events.
/// - Events published from one thread reach each client in the order they were published.
/// - A client that does not read its events is disconnected once its unsent output passes
///   ``ControlServer/Configuration/maximumPendingOutputBytes``; the others are not slowed.
///
/// Obtain it from ``ControlServer/events``.
public final class ControlEventBus: Sendable {
    let eventLoop: any EventLoop
    /// Negotiated connections by connection id; touched only on `eventLoop`.
    private let subscribers: NIOLoopBoundBox<[Int: any Channel]>

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.subscribers = NIOLoopBoundBox.makeBoxSendingValue([:], eventLoop: eventLoop)
    }

    /// Sends `{"event": name, "data": data, "timestamp": now}` to every negotiated client.
    public func publish(_ name: String, data: [String: JSONValue] = [:]) {
        publish(ControlEvent(name: name, data: data))
    }

    /// Sends an event with a timestamp of the caller's choosing.
    public func publish(_ event: ControlEvent) {
        let line = ByteBuffer(string: event.serialized + "\n")
        let subscribers = self.subscribers
        eventLoop.execute {
            for channel in subscribers.value.values {
                channel.writeAndFlush(line, promise: nil)
            }
        }
    }

    /// Called on the event loop when a connection completes negotiation.
    func subscribe(connectionID: Int, channel: any Channel) {
        subscribers.value[connectionID] = channel
    }

    /// Called on the event loop when a negotiated connection closes.
    func unsubscribe(connectionID: Int) {
        subscribers.value[connectionID] = nil
    }
}

import Crypto

/// Gossip datagrams as they cross the network: each message sealed with a key only the
/// cluster's members hold, and opened at most once.
///
///     magic "BGS" | version u8 | sender u64 | epoch u64 | counter u64 | message |
///     HMAC-SHA256 of everything before it
///
/// The key is derived from the cluster secret (HKDF-SHA256, its own label, so it proves
/// nothing on a peer link). `epoch` is the sender's wall-clock milliseconds when its shell
/// was made, `counter` its datagrams since: a receiver takes a sender's datagrams of its
/// latest epoch once each, within a window of `replayWindow` for those UDP reorders, and
/// none of an older epoch. All integers little-endian.
public enum GossipSeal {
    public static let magic: [UInt8] = Array("BGS".utf8) + [1]
    public static let headerBytes = 4 + 8 + 8 + 8
    public static let tagBytes = SHA256.byteCount
    public static let overheadBytes = headerBytes + tagBytes
    /// How far behind the newest counter seen a datagram may arrive and still be taken.
    public static let replayWindow: UInt64 = 64

    public static func key(secret: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), info: Array("berth gossip datagrams v1".utf8), outputByteCount: 32)
    }

    /// Why a datagram was not opened.
    public enum Refusal: Error, Equatable, Sendable {
        /// Too short, or not this seal's magic and version.
        case malformed
        /// Its tag does not authenticate it: another key, or changed on the way.
        case forged
        /// Taken before, or too far behind the sender's newest to tell.
        case replayed
        /// Of an epoch older than one the sender has used since.
        case stale
    }
}

/// The sending side: seals this node's messages, counting them.
public struct GossipSealer {
    private let key: SymmetricKey
    public let sender: UInt64
    public let epoch: UInt64
    private var counter: UInt64 = 0

    public init(key: SymmetricKey, sender: UInt64, epoch: UInt64) {
        self.key = key
        self.sender = sender
        self.epoch = epoch
    }

    public mutating func seal(_ message: [UInt8]) -> [UInt8] {
        counter += 1
        var bytes = GossipSeal.magic
        bytes.reserveCapacity(GossipSeal.overheadBytes + message.count)
        for value in [sender, epoch, counter] { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        bytes += message
        bytes += HMAC<SHA256>.authenticationCode(for: bytes, using: key)
        return bytes
    }
}

/// The receiving side: opens datagrams whose tag is good and which it has not taken before.
/// Remembers, per sender, its latest epoch and which of its newest counters came; at most
/// `sendersMax` senders (a member that went quiet longest is forgotten first, and could at
/// worst replay into this node what it sent before it was forgotten).
public struct GossipOpener {
    private struct Window: Sendable {
        var epoch: UInt64
        var newest: UInt64
        /// Bit k: counter `newest - k` was taken.
        var taken: UInt64
        var lastUse: UInt64
    }

    private let key: SymmetricKey
    private let sendersMax: Int
    private var windows: [UInt64: Window] = [:]
    private var uses: UInt64 = 0

    public init(key: SymmetricKey, sendersMax: Int) {
        precondition(sendersMax > 0, "an opener remembers at least one sender")
        self.key = key
        self.sendersMax = sendersMax
    }

    /// The sender and the message of a datagram, or why it is refused. A refused datagram
    /// changes nothing.
    public mutating func open(_ datagram: [UInt8]) -> Result<(sender: UInt64, message: ArraySlice<UInt8>), GossipSeal.Refusal> {
        guard datagram.count >= GossipSeal.overheadBytes, datagram.starts(with: GossipSeal.magic) else { return .failure(.malformed) }
        let tagStart = datagram.count - GossipSeal.tagBytes
        guard HMAC<SHA256>.isValidAuthenticationCode(datagram[tagStart...], authenticating: datagram[..<tagStart], using: key) else {
            return .failure(.forged)
        }
        let sender = Self.u64(datagram, at: 4)
        let epoch = Self.u64(datagram, at: 12)
        let counter = Self.u64(datagram, at: 20)
        uses += 1
        if var window = windows[sender] {
            guard epoch >= window.epoch else { return .failure(.stale) }
            if epoch > window.epoch {
                window = Window(epoch: epoch, newest: counter, taken: 1, lastUse: uses)
            } else if counter > window.newest {
                let ahead = counter - window.newest
                window.taken = ahead >= GossipSeal.replayWindow ? 1 : window.taken << ahead | 1
                window.newest = counter
            } else {
                let behind = window.newest - counter
                guard behind < GossipSeal.replayWindow, window.taken & (1 << behind) == 0 else { return .failure(.replayed) }
                window.taken |= 1 << behind
            }
            window.lastUse = uses
            windows[sender] = window
        } else {
            if windows.count >= sendersMax, let quietest = windows.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                windows[quietest] = nil
            }
            windows[sender] = Window(epoch: epoch, newest: counter, taken: 1, lastUse: uses)
        }
        return .success((sender, datagram[GossipSeal.headerBytes..<tagStart]))
    }

    private static func u64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        return value
    }
}

import Raft

/// What the two hellos of a link said, as both proofs bind it. The acceptor proves first,
/// once it has the dialler's hello; the dialler proves only after it has checked that
/// proof; neither proof is any use on another link (both nonces), between other nodes
/// (both ids) or for the other side (its role).
public struct PeerHandshake: Sendable {
    public enum Role: UInt8, Sendable {
        case dialler = 1
        case acceptor = 2
    }

    public var dialler: NodeID
    public var diallerNonce: [UInt8]
    public var diallerPurpose: LinkPurpose
    public var acceptor: NodeID
    public var acceptorNonce: [UInt8]

    public init(dialler: NodeID, diallerNonce: [UInt8], diallerPurpose: LinkPurpose, acceptor: NodeID, acceptorNonce: [UInt8]) {
        self.dialler = dialler
        self.diallerNonce = diallerNonce
        self.diallerPurpose = diallerPurpose
        self.acceptor = acceptor
        self.acceptorNonce = acceptorNonce
    }

    /// What the side in `role` proves, with an HMAC the shell keys by the cluster secret.
    public func provenBytes(by role: Role) -> [UInt8] {
        var bytes = Array("berth peer handshake v2".utf8) + [role.rawValue]
        withUnsafeBytes(of: dialler.littleEndian) { bytes += $0 }
        bytes += diallerNonce + diallerPurpose.encoded()
        withUnsafeBytes(of: acceptor.littleEndian) { bytes += $0 }
        return bytes + acceptorNonce
    }
}

import Crypto
import NIOSSL

/// TLS for the links between nodes, keyed by the cluster secret: a pre-shared key (TLS 1.2
/// ECDHE-PSK with ChaCha20-Poly1305; BoringSSL takes external PSKs for 1.2 only), so every
/// cluster's links are encrypted and every frame on them authenticated with nothing more to
/// configure, and a node without the secret cannot finish the TLS handshake at all. The
/// key is derived with HKDF-SHA256 from the secret, apart from what else the secret keys
/// (the gossip seal, the proofs of the peer handshake inside the link).
public struct PeerLinkTLS: Sendable {
    public let serverContext: NIOSSLContext
    public let clientContext: NIOSSLContext

    /// The suite every link uses, TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 (RFC 7905):
    /// forward secrecy (ECDHE) and an AEAD.
    public static let cipherSuite = NIOTLSCipher(rawValue: 0xCCAC)
    static let keyInfo = Array("berth peer link TLS pre-shared key v1".utf8)
    /// What a dialling node names itself as; the key, not the name, is what is checked.
    static let identity = "berth-node"

    public init(clusterSecret: [UInt8]) throws {
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: clusterSecret), info: Self.keyInfo, outputByteCount: 32)
        let bytes = key.withUnsafeBytes { Array($0) }
        var server = Self.pskOnly()
        server.pskServerProvider = { _ in PSKServerIdentityResponse(key: NIOSSLSecureBytes(bytes)) }
        var client = Self.pskOnly()
        client.pskClientProvider = { _ in PSKClientIdentityResponse(key: NIOSSLSecureBytes(bytes), identity: Self.identity) }
        serverContext = try NIOSSLContext(configuration: server)
        clientContext = try NIOSSLContext(configuration: client)
    }

    private static func pskOnly() -> TLSConfiguration {
        var configuration = TLSConfiguration.makePreSharedKeyConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv12
        configuration.cipherSuiteValues = [cipherSuite]
        configuration.certificateVerification = .none
        configuration.shutdownTimeout = TLSSettings.closeNotifyWaitMax
        return configuration
    }
}

import NIOCore
import NIOSSL

/// A TLS listener's identity and whom it trusts, as RabbitMQ's `ssl_options` configure
/// them (`certfile`, `keyfile`, `cacertfile`, `verify`, `fail_if_no_peer_cert`), held as
/// the files' PEM bytes: whoever reads the files checks them (the key must be its owner's
/// alone), and a bad file is refused when the node starts, not at the first connection.
public struct TLSSettings: Sendable {
    /// Whether a client must present a certificate, and whether one presented is checked.
    public enum PeerVerification: String, Sendable, CaseIterable {
        /// No certificate is asked for (RabbitMQ's `verify_none`).
        case none
        /// A certificate presented must chain to a trusted one; none may be presented
        /// (`verify_peer` with `fail_if_no_peer_cert = false`, RabbitMQ's default).
        case verifyIfPresented
        /// A client without a certificate that chains to a trusted one is refused
        /// (`verify_peer`, `fail_if_no_peer_cert = true`).
        case required
    }

    /// The certificate, then any intermediates, in PEM.
    public var certificateChainPEM: [UInt8]
    public var privateKeyPEM: [UInt8]
    /// The certificate authorities a client certificate must chain to, in PEM; needed unless
    /// `peerVerification` is `none`.
    public var trustedCertificatesPEM: [UInt8]?
    public var peerVerification: PeerVerification

    public init(certificateChainPEM: [UInt8], privateKeyPEM: [UInt8], trustedCertificatesPEM: [UInt8]? = nil, peerVerification: PeerVerification = .none) {
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
        self.trustedCertificatesPEM = trustedCertificatesPEM
        self.peerVerification = peerVerification
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// How long a connection this node closes waits for the peer's close_notify before the
    /// socket closes: a client it gives up on (silent past its heartbeats) is gone within
    /// this, not NIOSSL's 5 s later, and what it held goes back to the queue.
    public static let closeNotifyWaitMax = TimeAmount.milliseconds(250)

    /// The context a server's connections share (see `makeServerConfiguration`).
    public func makeServerContext() throws(Invalid) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: try makeServerConfiguration())
        } catch let invalid as Invalid {
            throw invalid
        } catch {
            throw Invalid(description: "the certificate and key do not make a TLS server: \(error)")
        }
    }

    /// A server's TLS configuration: TLS 1.2 at least, as RabbitMQ 3.x defaults to; throws
    /// when a file does not hold what it should.
    public func makeServerConfiguration() throws(Invalid) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMBytes(certificateChainPEM) } catch {
            throw Invalid(description: "the certificate file holds no PEM certificate: \(error)")
        }
        guard !chain.isEmpty else { throw Invalid(description: "the certificate file holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(bytes: privateKeyPEM, format: .pem) } catch {
            throw Invalid(description: "the key file holds no PEM private key: \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.shutdownTimeout = Self.closeNotifyWaitMax
        switch peerVerification {
        case .none:
            configuration.certificateVerification = .none
        case .verifyIfPresented, .required:
            guard let trustedCertificatesPEM else {
                throw Invalid(description: "verifying clients' certificates needs the certificate authorities' file")
            }
            let trusted: [NIOSSLCertificate]
            do { trusted = try NIOSSLCertificate.fromPEMBytes(trustedCertificatesPEM) } catch {
                throw Invalid(description: "the certificate authorities' file holds no PEM certificate: \(error)")
            }
            guard !trusted.isEmpty else { throw Invalid(description: "the certificate authorities' file holds no PEM certificate") }
            configuration.trustRoots = .certificates(trusted)
            configuration.certificateVerification = peerVerification == .required ? .noHostnameVerification : .optionalVerification
        }
        return configuration
    }
}

// Users and permissions: replicated like the rest, so a user added through one node logs in
// through any, and a permission changed anywhere is checked everywhere.
extension BrokerState {
    /// `guest`/`guest`, tagged `administrator`, with every permission on "/": RabbitMQ's
    /// default user. Its password is public anyway, so a fixed salt ("bert") keeps a fresh
    /// state the same on every replica. The node lets it in from loopback only.
    static let guest = User(
        name: "guest",
        passwordHash: PasswordHash(
            salt: [98, 101, 114, 116],
            digest: [
                42, 214, 234, 1, 58, 233, 227, 59, 173, 67, 242, 91, 112, 162, 30, 180, 158, 173, 132, 104, 84, 211, 202, 205, 78, 27,
                211, 18, 116, 219, 196, 29,
            ]),
        tags: ["administrator"])

    // MARK: Reading

    public func user(_ name: String) -> User? { users[name] }

    /// Every user, by name.
    public var allUsers: [User] { users.keys.sorted().compactMap { users[$0] } }

    public func permission(vhost: String, user: String) -> Permission? { permissions[vhost]?[user] }

    /// Every permission, by vhost then user.
    public var allPermissions: [(vhost: String, user: String, permission: Permission)] {
        permissions.keys.sorted().flatMap { vhost in
            (permissions[vhost] ?? [:]).sorted { $0.key < $1.key }.map { (vhost, $0.key, $0.value) }
        }
    }

    // MARK: Applying

    mutating func putUser(_ user: User, _ log: inout EffectLog) {
        do throws(BrokerError) {
            try checkUser(user)
            if users[user.name] == nil, users.count >= limits.usersMax {
                throw BrokerError(.preconditionFailed, "cannot add user '\(user.name)': user limit (\(limits.usersMax)) is reached")
            }
            users[user.name] = user
            accessChangedAt = appliedIndex
            log.reply(.userPut)
        } catch {
            log.fail(error)
        }
    }

    mutating func deleteUser(_ name: String, _ log: inout EffectLog) {
        guard users.removeValue(forKey: name) != nil else {
            log.fail(.userNotFound(name))
            return
        }
        resourceLimits[.user(name)] = nil
        for vhost in permissions.keys { permissions[vhost]?[name] = nil }
        permissions = permissions.filter { !$0.value.isEmpty }
        accessChangedAt = appliedIndex
        log.reply(.userDeleted)
    }

    mutating func setPermission(vhost: String, user: String, _ permission: Permission, _ log: inout EffectLog) {
        do throws(BrokerError) {
            guard vhosts[vhost] != nil else { throw .vhostNotFound(vhost) }
            guard users[user] != nil else { throw .userNotFound(user) }
            try checkPatterns(permission)
            permissions[vhost, default: [:]][user] = permission
            accessChangedAt = appliedIndex
            log.reply(.permissionSet)
        } catch {
            log.fail(error)
        }
    }

    mutating func clearPermission(vhost: String, user: String, _ log: inout EffectLog) {
        guard permissions[vhost]?.removeValue(forKey: user) != nil else {
            log.fail(BrokerError(.notFound, "no permissions for user '\(user)' in vhost '\(vhost)'"))
            return
        }
        if permissions[vhost]?.isEmpty == true { permissions[vhost] = nil }
        accessChangedAt = appliedIndex
        log.reply(.permissionCleared)
    }

    /// The users the node was started with, added once per cluster: the first seed applied
    /// adds each user not already there, with every permission on the default vhost; later
    /// seeds change nothing, so a user deleted through the API stays deleted.
    mutating func seedUsers(_ seed: [User], _ log: inout EffectLog) {
        guard !usersSeeded else {
            log.reply(.usersSeeded(added: []))
            return
        }
        do throws(BrokerError) {
            for user in seed { try checkUser(user) }
            let added = seed.filter { users[$0.name] == nil }
            guard users.count + added.count <= limits.usersMax else {
                throw BrokerError(.preconditionFailed, "cannot add \(added.count) users: user limit (\(limits.usersMax)) is reached")
            }
            for user in added {
                users[user.name] = user
                permissions[Self.defaultVHost, default: [:]][user.name] = .all
            }
            usersSeeded = true
            accessChangedAt = appliedIndex
            log.reply(.usersSeeded(added: added.map(\.name)))
        } catch {
            log.fail(error)
        }
    }

    // MARK: Limits

    /// The limit in force: set and not negative.
    public func limit(_ limit: ResourceLimit, of subject: LimitSubject) -> Int64? {
        resourceLimits[subject]?[limit].flatMap { $0 < 0 ? nil : $0 }
    }

    /// Every subject's limits as set, vhosts then users, by name.
    public var allResourceLimits: [(subject: LimitSubject, limits: [ResourceLimit: Int64])] {
        resourceLimits.keys.sorted { Self.limitOrder($0) < Self.limitOrder($1) }.map { ($0, resourceLimits[$0] ?? [:]) }
    }

    static func limitOrder(_ subject: LimitSubject) -> (Int, String) {
        switch subject {
        case .vhost(let name): (0, name)
        case .user(let name): (1, name)
        }
    }

    mutating func setLimit(_ limit: ResourceLimit, of subject: LimitSubject, to value: Int64, _ log: inout EffectLog) {
        do throws(BrokerError) {
            try checkLimit(limit, of: subject)
            switch subject {
            case .vhost(let name): guard vhosts[name] != nil else { throw .vhostNotFound(name) }
            case .user(let name): guard users[name] != nil else { throw .userNotFound(name) }
            }
            resourceLimits[subject, default: [:]][limit] = max(value, -1)
            log.reply(.limitSet)
        } catch {
            log.fail(error)
        }
    }

    mutating func clearLimit(_ limit: ResourceLimit, of subject: LimitSubject, _ log: inout EffectLog) {
        guard resourceLimits[subject]?.removeValue(forKey: limit) != nil else {
            log.fail(BrokerError(.notFound, "no \(limit.rawValue) limit on \(subject)"))
            return
        }
        if resourceLimits[subject]?.isEmpty == true { resourceLimits[subject] = nil }
        log.reply(.limitCleared)
    }

    func checkLimit(_ limit: ResourceLimit, of subject: LimitSubject) throws(BrokerError) {
        guard subject.allowed.contains(limit) else {
            throw BrokerError(.preconditionFailed, "\(subject) takes no \(limit.rawValue) limit (only \(subject.allowed.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func checkUser(_ user: User) throws(BrokerError) {
        guard !user.name.isEmpty else { throw BrokerError(.preconditionFailed, "a user needs a name") }
        try checkName(user.name, kind: "user")
        guard user.tags.count <= limits.userTagsMax else {
            throw BrokerError(.preconditionFailed, "a user has at most \(limits.userTagsMax) tags")
        }
        for tag in user.tags { try checkName(tag, kind: "tag") }
    }

    /// Each pattern within its bound and a regular expression this node can evaluate, so
    /// that every replica checks what was set.
    func checkPatterns(_ permission: Permission) throws(BrokerError) {
        for access in Permission.Access.allCases {
            let pattern = permission.pattern(for: access)
            guard pattern.utf8.count <= limits.permissionPatternBytesMax else {
                throw BrokerError(.preconditionFailed, "a permission pattern is longer than \(limits.permissionPatternBytesMax) bytes")
            }
            do {
                _ = try Regex(pattern)
            } catch {
                throw BrokerError(.preconditionFailed, "'\(pattern)' is not a valid regular expression")
            }
        }
    }
}

import AMQP

/// The ids of the replies the client waits for.
extension MethodID {
    static let channelOpenOk = MethodID(classID: 20, methodID: 11)
    static let exchangeDeclareOk = MethodID(classID: 40, methodID: 11)
    static let exchangeDeleteOk = MethodID(classID: 40, methodID: 21)
    static let exchangeBindOk = MethodID(classID: 40, methodID: 31)
    static let exchangeUnbindOk = MethodID(classID: 40, methodID: 51)
    static let queueDeclareOk = MethodID(classID: 50, methodID: 11)
    static let queueBindOk = MethodID(classID: 50, methodID: 21)
    static let queuePurgeOk = MethodID(classID: 50, methodID: 31)
    static let queueDeleteOk = MethodID(classID: 50, methodID: 41)
    static let queueUnbindOk = MethodID(classID: 50, methodID: 51)
    static let basicQosOk = MethodID(classID: 60, methodID: 11)
    static let basicConsumeOk = MethodID(classID: 60, methodID: 21)
    static let basicCancelOk = MethodID(classID: 60, methodID: 31)
    static let basicGetOk = MethodID(classID: 60, methodID: 71)
    static let basicGetEmpty = MethodID(classID: 60, methodID: 72)
    static let basicRecoverOk = MethodID(classID: 60, methodID: 111)
    static let confirmSelectOk = MethodID(classID: 85, methodID: 11)
    static let txSelectOk = MethodID(classID: 90, methodID: 11)
    static let txCommitOk = MethodID(classID: 90, methodID: 21)
    static let txRollbackOk = MethodID(classID: 90, methodID: 31)
}

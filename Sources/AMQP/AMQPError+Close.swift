extension AMQPError {
    /// The method that answers this error: `connection.close` (send it on channel 0) for a
    /// hard error, `channel.close` (send it on the failing channel) for a soft one, with the
    /// reply code, reply text and failing method filled in.
    public var closeMethod: Method {
        if self.isHardError {
            .connection(
                .close(.init(replyCode: self.replyCode, replyText: self.replyText, classID: self.classID, methodID: self.methodID))
            )
        } else {
            .channel(
                .close(.init(replyCode: self.replyCode, replyText: self.replyText, classID: self.classID, methodID: self.methodID))
            )
        }
    }
}

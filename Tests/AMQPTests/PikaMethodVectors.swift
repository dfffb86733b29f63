import AMQP

// Known answers from a real client: each method below, with a value away from its default
// in every field (and, for methods with several bits, one more vector per bit set
// alone), was encoded as a whole method frame by pika 1.4.4's own encoder
// (`pika.frame.Method(channel, pika.spec.<Class>.<Method>(...)).marshal()`).
// Shortstrs carry non-ASCII UTF-8, longstrs carry 0x00 and 0xFF, tables nest a table, an
// array, a decimal, a byte array and a void.

struct PikaVector {
    var name: String
    var channel: UInt16
    var method: Method
    /// The frame's bytes in hex.
    var bytes: String
}

// swift-format-ignore
let pikaMethodVectors: [PikaVector] = [
        PikaVector(
            name: "connection.start#0",
            channel: 0,
            method: .connection(.start(.init(versionMajor: 160, versionMinor: 161, serverProperties: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])], mechanisms: [0x00, 0xFF, 0x6D, 0x65, 0x63, 0x68, 0x61, 0x6E, 0x69, 0x73, 0x6D, 0x73], locales: [0x00, 0xFF, 0x6C, 0x6F, 0x63, 0x61, 0x6C, 0x65, 0x73]))),
            bytes: "0100000000008d000a000aa0a10000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d20000000c00ff6d656368616e69736d730000000900ff6c6f63616c6573ce"
        ),
        PikaVector(
            name: "connection.start-ok#0",
            channel: 0,
            method: .connection(.startOk(.init(clientProperties: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])], mechanism: "connection.start-ok/mechanism-é", response: [0x00, 0xFF, 0x72, 0x65, 0x73, 0x70, 0x6F, 0x6E, 0x73, 0x65], locale: "connection.start-ok/locale-é"))),
            bytes: "010000000000bb000a000b0000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d220636f6e6e656374696f6e2e73746172742d6f6b2f6d656368616e69736d2dc3a90000000a00ff726573706f6e73651d636f6e6e656374696f6e2e73746172742d6f6b2f6c6f63616c652dc3a9ce"
        ),
        PikaVector(
            name: "connection.secure#0",
            channel: 0,
            method: .connection(.secure(.init(challenge: [0x00, 0xFF, 0x63, 0x68, 0x61, 0x6C, 0x6C, 0x65, 0x6E, 0x67, 0x65]))),
            bytes: "01000000000013000a00140000000b00ff6368616c6c656e6765ce"
        ),
        PikaVector(
            name: "connection.secure-ok#0",
            channel: 0,
            method: .connection(.secureOk(.init(response: [0x00, 0xFF, 0x72, 0x65, 0x73, 0x70, 0x6F, 0x6E, 0x73, 0x65]))),
            bytes: "01000000000012000a00150000000a00ff726573706f6e7365ce"
        ),
        PikaVector(
            name: "connection.tune#0",
            channel: 0,
            method: .connection(.tune(.init(channelMax: 45056, frameMax: 3221225473, heartbeat: 45070))),
            bytes: "0100000000000c000a001eb000c0000001b00ece"
        ),
        PikaVector(
            name: "connection.tune-ok#0",
            channel: 0,
            method: .connection(.tuneOk(.init(channelMax: 45056, frameMax: 3221225473, heartbeat: 45070))),
            bytes: "0100000000000c000a001fb000c0000001b00ece"
        ),
        PikaVector(
            name: "connection.open#0",
            channel: 0,
            method: .connection(.open(.init(virtualHost: "connection.open/virtual-host-é", capabilities: "connection.open/capabilities-é", insist: true))),
            bytes: "01000000000045000a00281f636f6e6e656374696f6e2e6f70656e2f7669727475616c2d686f73742dc3a91f636f6e6e656374696f6e2e6f70656e2f6361706162696c69746965732dc3a901ce"
        ),
        PikaVector(
            name: "connection.open-ok#0",
            channel: 0,
            method: .connection(.openOk(.init(knownHosts: "connection.open-ok/known-hosts-é"))),
            bytes: "01000000000026000a002921636f6e6e656374696f6e2e6f70656e2d6f6b2f6b6e6f776e2d686f7374732dc3a9ce"
        ),
        PikaVector(
            name: "connection.close#0",
            channel: 0,
            method: .connection(.close(.init(replyCode: ReplyCode(rawValue: 312), replyText: "connection.close/reply-text-é", classID: 45070, methodID: 45077))),
            bytes: "01000000000029000a003201381e636f6e6e656374696f6e2e636c6f73652f7265706c792d746578742dc3a9b00eb015ce"
        ),
        PikaVector(
            name: "connection.close-ok#0",
            channel: 0,
            method: .connection(.closeOk),
            bytes: "01000000000004000a0033ce"
        ),
        PikaVector(
            name: "connection.blocked#0",
            channel: 0,
            method: .connection(.blocked(.init(reason: "connection.blocked/reason-é"))),
            bytes: "01000000000021000a003c1c636f6e6e656374696f6e2e626c6f636b65642f726561736f6e2dc3a9ce"
        ),
        PikaVector(
            name: "connection.unblocked#0",
            channel: 0,
            method: .connection(.unblocked),
            bytes: "01000000000004000a003dce"
        ),
        PikaVector(
            name: "connection.update-secret#0",
            channel: 0,
            method: .connection(.updateSecret(.init(newSecret: [0x00, 0xFF, 0x6E, 0x65, 0x77, 0x2D, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74], reason: "connection.update-secret/reason-é"))),
            bytes: "01000000000037000a00460000000c00ff6e65772d73656372657422636f6e6e656374696f6e2e7570646174652d7365637265742f726561736f6e2dc3a9ce"
        ),
        PikaVector(
            name: "connection.update-secret-ok#0",
            channel: 0,
            method: .connection(.updateSecretOk),
            bytes: "01000000000004000a0047ce"
        ),
        PikaVector(
            name: "channel.open#0",
            channel: 3,
            method: .channel(.open(.init(outOfBand: "channel.open/out-of-band-é"))),
            bytes: "010003000000200014000a1b6368616e6e656c2e6f70656e2f6f75742d6f662d62616e642dc3a9ce"
        ),
        PikaVector(
            name: "channel.open-ok#0",
            channel: 3,
            method: .channel(.openOk(.init(channelID: [0x00, 0xFF, 0x63, 0x68, 0x61, 0x6E, 0x6E, 0x65, 0x6C, 0x2D, 0x69, 0x64]))),
            bytes: "010003000000140014000b0000000c00ff6368616e6e656c2d6964ce"
        ),
        PikaVector(
            name: "channel.flow#0",
            channel: 3,
            method: .channel(.flow(.init(active: true))),
            bytes: "010003000000050014001401ce"
        ),
        PikaVector(
            name: "channel.flow-ok#0",
            channel: 3,
            method: .channel(.flowOk(.init(active: true))),
            bytes: "010003000000050014001501ce"
        ),
        PikaVector(
            name: "channel.close#0",
            channel: 3,
            method: .channel(.close(.init(replyCode: ReplyCode(rawValue: 312), replyText: "channel.close/reply-text-é", classID: 45070, methodID: 45077))),
            bytes: "010003000000260014002801381b6368616e6e656c2e636c6f73652f7265706c792d746578742dc3a9b00eb015ce"
        ),
        PikaVector(
            name: "channel.close-ok#0",
            channel: 3,
            method: .channel(.closeOk),
            bytes: "0100030000000400140029ce"
        ),
        PikaVector(
            name: "exchange.declare#0",
            channel: 3,
            method: .exchange(.declare(.init(ticket: 45056, exchange: "exchange.declare/exchange-é", type: "exchange.declare/type-é", passive: true, durable: true, autoDelete: true, internal: true, noWait: true, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a70028000ab0001c65786368616e67652e6465636c6172652f65786368616e67652dc3a91865786368616e67652e6465636c6172652f747970652dc3a91f0000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "exchange.declare#1",
            channel: 3,
            method: .exchange(.declare(.init(ticket: 45056, exchange: "exchange.declare/exchange-é", type: "exchange.declare/type-é", passive: true, durable: false, autoDelete: false, internal: false, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a70028000ab0001c65786368616e67652e6465636c6172652f65786368616e67652dc3a91865786368616e67652e6465636c6172652f747970652dc3a9010000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "exchange.declare#2",
            channel: 3,
            method: .exchange(.declare(.init(ticket: 45056, exchange: "exchange.declare/exchange-é", type: "exchange.declare/type-é", passive: false, durable: true, autoDelete: false, internal: false, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a70028000ab0001c65786368616e67652e6465636c6172652f65786368616e67652dc3a91865786368616e67652e6465636c6172652f747970652dc3a9020000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "exchange.declare#3",
            channel: 3,
            method: .exchange(.declare(.init(ticket: 45056, exchange: "exchange.declare/exchange-é", type: "exchange.declare/type-é", passive: false, durable: false, autoDelete: true, internal: false, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a70028000ab0001c65786368616e67652e6465636c6172652f65786368616e67652dc3a91865786368616e67652e6465636c6172652f747970652dc3a9040000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "exchange.declare#4",
            channel: 3,
            method: .exchange(.declare(.init(ticket: 45056, exchange: "exchange.declare/exchange-é", type: "exchange.declare/type-é", passive: false, durable: false, autoDelete: false, internal: true, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a70028000ab0001c65786368616e67652e6465636c6172652f65786368616e67652dc3a91865786368616e67652e6465636c6172652f747970652dc3a9080000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "exchange.declare#5",
            channel: 3,
            method: .exchange(.declare(.init(ticket: 45056, exchange: "exchange.declare/exchange-é", type: "exchange.declare/type-é", passive: false, durable: false, autoDelete: false, internal: false, noWait: true, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a70028000ab0001c65786368616e67652e6465636c6172652f65786368616e67652dc3a91865786368616e67652e6465636c6172652f747970652dc3a9100000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "exchange.declare-ok#0",
            channel: 3,
            method: .exchange(.declareOk),
            bytes: "010003000000040028000bce"
        ),
        PikaVector(
            name: "exchange.delete#0",
            channel: 3,
            method: .exchange(.delete(.init(ticket: 45056, exchange: "exchange.delete/exchange-é", ifUnused: true, noWait: true))),
            bytes: "0100030000002300280014b0001b65786368616e67652e64656c6574652f65786368616e67652dc3a903ce"
        ),
        PikaVector(
            name: "exchange.delete#1",
            channel: 3,
            method: .exchange(.delete(.init(ticket: 45056, exchange: "exchange.delete/exchange-é", ifUnused: true, noWait: false))),
            bytes: "0100030000002300280014b0001b65786368616e67652e64656c6574652f65786368616e67652dc3a901ce"
        ),
        PikaVector(
            name: "exchange.delete#2",
            channel: 3,
            method: .exchange(.delete(.init(ticket: 45056, exchange: "exchange.delete/exchange-é", ifUnused: false, noWait: true))),
            bytes: "0100030000002300280014b0001b65786368616e67652e64656c6574652f65786368616e67652dc3a902ce"
        ),
        PikaVector(
            name: "exchange.delete-ok#0",
            channel: 3,
            method: .exchange(.deleteOk),
            bytes: "0100030000000400280015ce"
        ),
        PikaVector(
            name: "exchange.bind#0",
            channel: 3,
            method: .exchange(.bind(.init(ticket: 45056, destination: "exchange.bind/destination-é", source: "exchange.bind/source-é", routingKey: "exchange.bind/routing-key-é", noWait: true, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000c30028001eb0001c65786368616e67652e62696e642f64657374696e6174696f6e2dc3a91765786368616e67652e62696e642f736f757263652dc3a91c65786368616e67652e62696e642f726f7574696e672d6b65792dc3a9010000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "exchange.bind-ok#0",
            channel: 3,
            method: .exchange(.bindOk),
            bytes: "010003000000040028001fce"
        ),
        PikaVector(
            name: "exchange.unbind#0",
            channel: 3,
            method: .exchange(.unbind(.init(ticket: 45056, destination: "exchange.unbind/destination-é", source: "exchange.unbind/source-é", routingKey: "exchange.unbind/routing-key-é", noWait: true, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000c900280028b0001e65786368616e67652e756e62696e642f64657374696e6174696f6e2dc3a91965786368616e67652e756e62696e642f736f757263652dc3a91e65786368616e67652e756e62696e642f726f7574696e672d6b65792dc3a9010000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "exchange.unbind-ok#0",
            channel: 3,
            method: .exchange(.unbindOk),
            bytes: "0100030000000400280033ce"
        ),
        PikaVector(
            name: "queue.declare#0",
            channel: 3,
            method: .queue(.declare(.init(ticket: 45056, queue: "queue.declare/queue-é", passive: true, durable: true, exclusive: true, autoDelete: true, noWait: true, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000880032000ab0001671756575652e6465636c6172652f71756575652dc3a91f0000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "queue.declare#1",
            channel: 3,
            method: .queue(.declare(.init(ticket: 45056, queue: "queue.declare/queue-é", passive: true, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000880032000ab0001671756575652e6465636c6172652f71756575652dc3a9010000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "queue.declare#2",
            channel: 3,
            method: .queue(.declare(.init(ticket: 45056, queue: "queue.declare/queue-é", passive: false, durable: true, exclusive: false, autoDelete: false, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000880032000ab0001671756575652e6465636c6172652f71756575652dc3a9020000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "queue.declare#3",
            channel: 3,
            method: .queue(.declare(.init(ticket: 45056, queue: "queue.declare/queue-é", passive: false, durable: false, exclusive: true, autoDelete: false, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000880032000ab0001671756575652e6465636c6172652f71756575652dc3a9040000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "queue.declare#4",
            channel: 3,
            method: .queue(.declare(.init(ticket: 45056, queue: "queue.declare/queue-é", passive: false, durable: false, exclusive: false, autoDelete: true, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000880032000ab0001671756575652e6465636c6172652f71756575652dc3a9080000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "queue.declare#5",
            channel: 3,
            method: .queue(.declare(.init(ticket: 45056, queue: "queue.declare/queue-é", passive: false, durable: false, exclusive: false, autoDelete: false, noWait: true, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000880032000ab0001671756575652e6465636c6172652f71756575652dc3a9100000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "queue.declare-ok#0",
            channel: 3,
            method: .queue(.declareOk(.init(queue: "queue.declare-ok/queue-é", messageCount: 3221225473, consumerCount: 3221225474))),
            bytes: "010003000000260032000b1971756575652e6465636c6172652d6f6b2f71756575652dc3a9c0000001c0000002ce"
        ),
        PikaVector(
            name: "queue.bind#0",
            channel: 3,
            method: .queue(.bind(.init(ticket: 45056, queue: "queue.bind/queue-é", exchange: "queue.bind/exchange-é", routingKey: "queue.bind/routing-key-é", noWait: true, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000b600320014b0001371756575652e62696e642f71756575652dc3a91671756575652e62696e642f65786368616e67652dc3a91971756575652e62696e642f726f7574696e672d6b65792dc3a9010000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "queue.bind-ok#0",
            channel: 3,
            method: .queue(.bindOk),
            bytes: "0100030000000400320015ce"
        ),
        PikaVector(
            name: "queue.purge#0",
            channel: 3,
            method: .queue(.purge(.init(ticket: 45056, queue: "queue.purge/queue-é", noWait: true))),
            bytes: "0100030000001c0032001eb0001471756575652e70757267652f71756575652dc3a901ce"
        ),
        PikaVector(
            name: "queue.purge-ok#0",
            channel: 3,
            method: .queue(.purgeOk(.init(messageCount: 3221225472))),
            bytes: "010003000000080032001fc0000000ce"
        ),
        PikaVector(
            name: "queue.delete#0",
            channel: 3,
            method: .queue(.delete(.init(ticket: 45056, queue: "queue.delete/queue-é", ifUnused: true, ifEmpty: true, noWait: true))),
            bytes: "0100030000001d00320028b0001571756575652e64656c6574652f71756575652dc3a907ce"
        ),
        PikaVector(
            name: "queue.delete#1",
            channel: 3,
            method: .queue(.delete(.init(ticket: 45056, queue: "queue.delete/queue-é", ifUnused: true, ifEmpty: false, noWait: false))),
            bytes: "0100030000001d00320028b0001571756575652e64656c6574652f71756575652dc3a901ce"
        ),
        PikaVector(
            name: "queue.delete#2",
            channel: 3,
            method: .queue(.delete(.init(ticket: 45056, queue: "queue.delete/queue-é", ifUnused: false, ifEmpty: true, noWait: false))),
            bytes: "0100030000001d00320028b0001571756575652e64656c6574652f71756575652dc3a902ce"
        ),
        PikaVector(
            name: "queue.delete#3",
            channel: 3,
            method: .queue(.delete(.init(ticket: 45056, queue: "queue.delete/queue-é", ifUnused: false, ifEmpty: false, noWait: true))),
            bytes: "0100030000001d00320028b0001571756575652e64656c6574652f71756575652dc3a904ce"
        ),
        PikaVector(
            name: "queue.delete-ok#0",
            channel: 3,
            method: .queue(.deleteOk(.init(messageCount: 3221225472))),
            bytes: "0100030000000800320029c0000000ce"
        ),
        PikaVector(
            name: "queue.unbind#0",
            channel: 3,
            method: .queue(.unbind(.init(ticket: 45056, queue: "queue.unbind/queue-é", exchange: "queue.unbind/exchange-é", routingKey: "queue.unbind/routing-key-é", arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000bb00320032b0001571756575652e756e62696e642f71756575652dc3a91871756575652e756e62696e642f65786368616e67652dc3a91b71756575652e756e62696e642f726f7574696e672d6b65792dc3a90000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "queue.unbind-ok#0",
            channel: 3,
            method: .queue(.unbindOk),
            bytes: "0100030000000400320033ce"
        ),
        PikaVector(
            name: "basic.qos#0",
            channel: 3,
            method: .basic(.qos(.init(prefetchSize: 3221225472, prefetchCount: 45063, global: true))),
            bytes: "0100030000000b003c000ac0000000b00701ce"
        ),
        PikaVector(
            name: "basic.qos-ok#0",
            channel: 3,
            method: .basic(.qosOk),
            bytes: "01000300000004003c000bce"
        ),
        PikaVector(
            name: "basic.consume#0",
            channel: 3,
            method: .basic(.consume(.init(ticket: 45056, queue: "basic.consume/queue-é", consumerTag: "basic.consume/consumer-tag-é", noLocal: true, noAck: true, exclusive: true, noWait: true, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a6003c0014b0001662617369632e636f6e73756d652f71756575652dc3a91d62617369632e636f6e73756d652f636f6e73756d65722d7461672dc3a90f0000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "basic.consume#1",
            channel: 3,
            method: .basic(.consume(.init(ticket: 45056, queue: "basic.consume/queue-é", consumerTag: "basic.consume/consumer-tag-é", noLocal: true, noAck: false, exclusive: false, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a6003c0014b0001662617369632e636f6e73756d652f71756575652dc3a91d62617369632e636f6e73756d652f636f6e73756d65722d7461672dc3a9010000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "basic.consume#2",
            channel: 3,
            method: .basic(.consume(.init(ticket: 45056, queue: "basic.consume/queue-é", consumerTag: "basic.consume/consumer-tag-é", noLocal: false, noAck: true, exclusive: false, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a6003c0014b0001662617369632e636f6e73756d652f71756575652dc3a91d62617369632e636f6e73756d652f636f6e73756d65722d7461672dc3a9020000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "basic.consume#3",
            channel: 3,
            method: .basic(.consume(.init(ticket: 45056, queue: "basic.consume/queue-é", consumerTag: "basic.consume/consumer-tag-é", noLocal: false, noAck: false, exclusive: true, noWait: false, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a6003c0014b0001662617369632e636f6e73756d652f71756575652dc3a91d62617369632e636f6e73756d652f636f6e73756d65722d7461672dc3a9040000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "basic.consume#4",
            channel: 3,
            method: .basic(.consume(.init(ticket: 45056, queue: "basic.consume/queue-é", consumerTag: "basic.consume/consumer-tag-é", noLocal: false, noAck: false, exclusive: false, noWait: true, arguments: ["x-match": "all", "count": .int32(7), "big": .int64(1 << 40), "flag": .bool(true), "nested": .table(["list": .array([.int32(1), "two", .void, .byteArray([0x00, 0xFF])]), "price": .decimal(scale: 2, value: 1234)])]))),
            bytes: "010003000000a6003c0014b0001662617369632e636f6e73756d652f71756575652dc3a91d62617369632e636f6e73756d652f636f6e73756d65722d7461672dc3a9080000006607782d6d617463685300000003616c6c05636f756e744900000007036269676c000001000000000004666c61677401066e6573746564460000002b046c69737441000000154900000001530000000374776f56780000000200ff0570726963654402000004d2ce"
        ),
        PikaVector(
            name: "basic.consume-ok#0",
            channel: 3,
            method: .basic(.consumeOk(.init(consumerTag: "basic.consume-ok/consumer-tag-é"))),
            bytes: "01000300000025003c00152062617369632e636f6e73756d652d6f6b2f636f6e73756d65722d7461672dc3a9ce"
        ),
        PikaVector(
            name: "basic.cancel#0",
            channel: 3,
            method: .basic(.cancel(.init(consumerTag: "basic.cancel/consumer-tag-é", noWait: true))),
            bytes: "01000300000022003c001e1c62617369632e63616e63656c2f636f6e73756d65722d7461672dc3a901ce"
        ),
        PikaVector(
            name: "basic.cancel-ok#0",
            channel: 3,
            method: .basic(.cancelOk(.init(consumerTag: "basic.cancel-ok/consumer-tag-é"))),
            bytes: "01000300000024003c001f1f62617369632e63616e63656c2d6f6b2f636f6e73756d65722d7461672dc3a9ce"
        ),
        PikaVector(
            name: "basic.publish#0",
            channel: 3,
            method: .basic(.publish(.init(ticket: 45056, exchange: "basic.publish/exchange-é", routingKey: "basic.publish/routing-key-é", mandatory: true, immediate: true))),
            bytes: "0100030000003e003c0028b0001962617369632e7075626c6973682f65786368616e67652dc3a91c62617369632e7075626c6973682f726f7574696e672d6b65792dc3a903ce"
        ),
        PikaVector(
            name: "basic.publish#1",
            channel: 3,
            method: .basic(.publish(.init(ticket: 45056, exchange: "basic.publish/exchange-é", routingKey: "basic.publish/routing-key-é", mandatory: true, immediate: false))),
            bytes: "0100030000003e003c0028b0001962617369632e7075626c6973682f65786368616e67652dc3a91c62617369632e7075626c6973682f726f7574696e672d6b65792dc3a901ce"
        ),
        PikaVector(
            name: "basic.publish#2",
            channel: 3,
            method: .basic(.publish(.init(ticket: 45056, exchange: "basic.publish/exchange-é", routingKey: "basic.publish/routing-key-é", mandatory: false, immediate: true))),
            bytes: "0100030000003e003c0028b0001962617369632e7075626c6973682f65786368616e67652dc3a91c62617369632e7075626c6973682f726f7574696e672d6b65792dc3a902ce"
        ),
        PikaVector(
            name: "basic.return#0",
            channel: 3,
            method: .basic(.`return`(.init(replyCode: ReplyCode(rawValue: 312), replyText: "basic.return/reply-text-é", exchange: "basic.return/exchange-é", routingKey: "basic.return/routing-key-é"))),
            bytes: "01000300000056003c003201381a62617369632e72657475726e2f7265706c792d746578742dc3a91862617369632e72657475726e2f65786368616e67652dc3a91b62617369632e72657475726e2f726f7574696e672d6b65792dc3a9ce"
        ),
        PikaVector(
            name: "basic.deliver#0",
            channel: 3,
            method: .basic(.deliver(.init(consumerTag: "basic.deliver/consumer-tag-é", deliveryTag: 14987979559889010689, redelivered: true, exchange: "basic.deliver/exchange-é", routingKey: "basic.deliver/routing-key-é"))),
            bytes: "01000300000062003c003c1d62617369632e64656c697665722f636f6e73756d65722d7461672dc3a9d000000000000001011962617369632e64656c697665722f65786368616e67652dc3a91c62617369632e64656c697665722f726f7574696e672d6b65792dc3a9ce"
        ),
        PikaVector(
            name: "basic.get#0",
            channel: 3,
            method: .basic(.get(.init(ticket: 45056, queue: "basic.get/queue-é", noAck: true))),
            bytes: "0100030000001a003c0046b0001262617369632e6765742f71756575652dc3a901ce"
        ),
        PikaVector(
            name: "basic.get-ok#0",
            channel: 3,
            method: .basic(.getOk(.init(deliveryTag: 14987979559889010688, redelivered: true, exchange: "basic.get-ok/exchange-é", routingKey: "basic.get-ok/routing-key-é", messageCount: 3221225476))),
            bytes: "01000300000046003c0047d000000000000000011862617369632e6765742d6f6b2f65786368616e67652dc3a91b62617369632e6765742d6f6b2f726f7574696e672d6b65792dc3a9c0000004ce"
        ),
        PikaVector(
            name: "basic.get-empty#0",
            channel: 3,
            method: .basic(.getEmpty(.init(clusterID: "basic.get-empty/cluster-id-é"))),
            bytes: "01000300000022003c00481d62617369632e6765742d656d7074792f636c75737465722d69642dc3a9ce"
        ),
        PikaVector(
            name: "basic.ack#0",
            channel: 3,
            method: .basic(.ack(.init(deliveryTag: 14987979559889010688, multiple: true))),
            bytes: "0100030000000d003c0050d00000000000000001ce"
        ),
        PikaVector(
            name: "basic.reject#0",
            channel: 3,
            method: .basic(.reject(.init(deliveryTag: 14987979559889010688, requeue: false))),
            bytes: "0100030000000d003c005ad00000000000000000ce"
        ),
        PikaVector(
            name: "basic.recover-async#0",
            channel: 3,
            method: .basic(.recoverAsync(.init(requeue: true))),
            bytes: "01000300000005003c006401ce"
        ),
        PikaVector(
            name: "basic.recover#0",
            channel: 3,
            method: .basic(.recover(.init(requeue: true))),
            bytes: "01000300000005003c006e01ce"
        ),
        PikaVector(
            name: "basic.recover-ok#0",
            channel: 3,
            method: .basic(.recoverOk),
            bytes: "01000300000004003c006fce"
        ),
        PikaVector(
            name: "basic.nack#0",
            channel: 3,
            method: .basic(.nack(.init(deliveryTag: 14987979559889010688, multiple: true, requeue: false))),
            bytes: "0100030000000d003c0078d00000000000000001ce"
        ),
        PikaVector(
            name: "basic.nack#1",
            channel: 3,
            method: .basic(.nack(.init(deliveryTag: 14987979559889010688, multiple: true, requeue: false))),
            bytes: "0100030000000d003c0078d00000000000000001ce"
        ),
        PikaVector(
            name: "basic.nack#2",
            channel: 3,
            method: .basic(.nack(.init(deliveryTag: 14987979559889010688, multiple: false, requeue: true))),
            bytes: "0100030000000d003c0078d00000000000000002ce"
        ),
        PikaVector(
            name: "tx.select#0",
            channel: 3,
            method: .tx(.select),
            bytes: "01000300000004005a000ace"
        ),
        PikaVector(
            name: "tx.select-ok#0",
            channel: 3,
            method: .tx(.selectOk),
            bytes: "01000300000004005a000bce"
        ),
        PikaVector(
            name: "tx.commit#0",
            channel: 3,
            method: .tx(.commit),
            bytes: "01000300000004005a0014ce"
        ),
        PikaVector(
            name: "tx.commit-ok#0",
            channel: 3,
            method: .tx(.commitOk),
            bytes: "01000300000004005a0015ce"
        ),
        PikaVector(
            name: "tx.rollback#0",
            channel: 3,
            method: .tx(.rollback),
            bytes: "01000300000004005a001ece"
        ),
        PikaVector(
            name: "tx.rollback-ok#0",
            channel: 3,
            method: .tx(.rollbackOk),
            bytes: "01000300000004005a001fce"
        ),
        PikaVector(
            name: "confirm.select#0",
            channel: 3,
            method: .confirm(.select(.init(noWait: true))),
            bytes: "010003000000050055000a01ce"
        ),
        PikaVector(
            name: "confirm.select-ok#0",
            channel: 3,
            method: .confirm(.selectOk),
            bytes: "010003000000040055000bce"
        ),
]

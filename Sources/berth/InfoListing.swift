import ArgumentParser
import FoundationEssentials
import StatusAPI

/// How a `list_*` command prints: `table` is rabbitmqctl's `--formatter pretty_table` without
/// its box lines (columns aligned under a header row), `json` its `--formatter json` (an
/// array of objects holding the chosen columns, in their order).
enum ListingFormat: String, CaseIterable, ExpressibleByArgument {
    case table
    case json
}

/// The columns a `list_*` command knows for one kind of item, by rabbitmqctl's info-item
/// names, and how to print a selection of them. Pure: it only turns items into text.
struct InfoListing<Item>: Sendable {
    struct Column: Sendable {
        let name: String
        let value: @Sendable (Item) -> JSONValue
    }

    /// Names the listing in errors: the rabbitmqctl command.
    let command: String
    let columns: [Column]
    /// What is shown when no column is asked for, as rabbitmqctl shows it.
    let defaults: [String]

    init(_ command: String, defaults: [String], _ columns: [(String, @Sendable (Item) -> JSONValue)]) {
        self.command = command
        self.columns = columns.map { Column(name: $0.0, value: $0.1) }
        self.defaults = defaults
        assert(defaults.allSatisfy { name in self.columns.contains { $0.name == name } }, "\(command): a default column it does not know")
    }

    /// For the command's help: what it can show.
    var discussion: String {
        "Columns: \(columns.map(\.name).joined(separator: ", ")) (without any: \(defaults.joined(separator: " ")))."
    }

    /// `items` with the `requested` columns (the defaults if none), in `format`.
    func render(_ items: [Item], columns requested: [String], as format: ListingFormat) throws(InfoListingError) -> String {
        let chosen = try select(requested.isEmpty ? defaults : requested)
        switch format {
        case .table:
            return formatTable(chosen.map(\.name), items.map { item in chosen.map { Self.text($0.value(item)) } })
        case .json:
            let objects = items.map { item in
                "{" + chosen.map { Self.json(.string($0.name)) + ":" + Self.json($0.value(item)) }.joined(separator: ",") + "}"
            }
            return objects.isEmpty ? "[]\n" : "[\n" + objects.joined(separator: ",\n") + "\n]\n"
        }
    }

    private func select(_ names: [String]) throws(InfoListingError) -> [Column] {
        var chosen: [Column] = []
        for name in names {
            guard let column = columns.first(where: { $0.name == name }) else {
                throw .unknownColumn(command: command, column: name, known: columns.map(\.name))
            }
            // A JSON object cannot hold one key twice.
            guard !chosen.contains(where: { $0.name == name }) else { throw .repeatedColumn(command: command, column: name) }
            chosen.append(column)
        }
        return chosen
    }

    /// A table cell: strings bare, as rabbitmqctl prints them; lists and tables as compact JSON.
    static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: return ""
        case .bool(let value): return String(value)
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .string(let value): return value
        case .array, .object: return json(value)
        }
    }

    /// One value as compact JSON, object keys sorted so that the output is the same every time.
    static func json(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Only a non-finite double fails to encode, and no listed field is one.
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}

enum InfoListingError: Error, Equatable, CustomStringConvertible {
    case unknownColumn(command: String, column: String, known: [String])
    case repeatedColumn(command: String, column: String)

    var description: String {
        switch self {
        case .unknownColumn(let command, let column, let known):
            return "\(command) has no column '\(column)'; its columns are: \(known.joined(separator: ", "))"
        case .repeatedColumn(let command, let column):
            return "\(command): column '\(column)' is asked for twice"
        }
    }
}

/// The columns and format a `list_*` command is asked for.
struct ListingOptions: ParsableArguments {
    @Argument(help: "The columns to show, by rabbitmqctl's info-item names (see above).")
    var columns: [String] = []

    @Option(help: "table (aligned columns under a header row) or json (an array of objects).")
    var format: ListingFormat = .table

    /// Prints `items`; an unknown column is a usage error that names the known ones.
    func print<Item>(_ items: [Item], _ listing: InfoListing<Item>) throws {
        do {
            Swift.print(try listing.render(items, columns: columns, as: format), terminator: "")
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Checks the columns before any node is asked.
    func check<Item>(_ listing: InfoListing<Item>) throws {
        do { _ = try listing.render([], columns: columns, as: format) } catch { throw ValidationError(error.description) }
    }
}

import XCTest

@testable import berth_chaos

final class ThroughputPlotTests: XCTestCase {
    static let confirmsPerSecond = [3, 0, 5, 1, 5, 2]
    static let deliveriesPerSecond = [0, 4, 4, 2, 0, 1]

    /// Six seconds of confirms and deliveries at the rates above, and four windows.
    static var run: (events: [Event], windows: [WindowRecord]) {
        var history = HandMadeHistory()
        var sequence = 0
        for second in 0..<confirmsPerSecond.count {
            for index in 0..<confirmsPerSecond[second] {
                history.confirm(1, sequence, watermark: sequence + 1, at: Int64(second * 1000 + index * 100))
                sequence += 1
            }
            for index in 0..<deliveriesPerSecond[second] {
                history.deliver(1, index, at: Int64(second * 1000 + index * 100 + 50))
            }
        }
        let windows = [
            window(1, .none, start: 0, heal: 1_000),
            window(2, .killLeader, start: 1_000, heal: 2_000),
            window(3, .split, start: 2_500, heal: 3_500),
            window(4, .killLeader, start: 4_000, heal: 5_000),
        ]
        return (history.events, windows)
    }

    static func window(_ number: Int, _ kind: FaultKind, start: Int64, heal: Int64, target: String = "node 1") -> WindowRecord {
        let window = FaultWindow(number: number, kind: kind, offset: .milliseconds(start), hold: .milliseconds(heal - start), recovery: .seconds(0), drawnNodes: [1])
        return WindowRecord(window: window, target: target, startMillis: start, healMillis: heal, endMillis: heal)
    }

    func testOneShadedBandPerFaultWindowColouredByKind() throws {
        let svg = ThroughputPlot.svg(events: Self.run.events, windows: Self.run.windows, seed: 7)
        let bands = elements(#"<rect class="fault""#, in: svg)
        XCTAssertEqual(bands.count, Self.run.windows.filter { $0.window.kind != .none }.count)
        let fills = try bands.map { try XCTUnwrap(attribute("fill", of: $0)) }
        XCTAssertEqual(fills[0], fills[2], "both kill-leader windows")
        XCTAssertNotEqual(fills[0], fills[1], "kill-leader and split")
        // Window 3 spans 2.5 s to 3.5 s of a six-second run.
        let x = try XCTUnwrap(attribute("x", of: bands[1]).flatMap(Double.init))
        let width = try XCTUnwrap(attribute("width", of: bands[1]).flatMap(Double.init))
        let plotWidth = Double(ThroughputPlot.plotWidth)
        XCTAssertEqual(x, Double(ThroughputPlot.marginLeft) + plotWidth * 2.5 / 6, accuracy: 0.1)
        XCTAssertEqual(width, plotWidth / 6, accuracy: 0.2)
        XCTAssertTrue(svg.contains(">2 kill-leader</text>"))
        XCTAssertTrue(svg.contains(">3 split</text>"))
        XCTAssertFalse(svg.contains(">1 none</text>"))
    }

    func testEveryFaultKindHasItsOwnColour() {
        let colours = FaultKind.faults.map(ThroughputPlot.colour(of:))
        XCTAssertEqual(Set(colours.prefix(ThroughputPlot.faultPalette.count)).count, min(colours.count, ThroughputPlot.faultPalette.count))
    }

    func testRateLinesHaveAPointPerSecondPlacedByTheirCounts() throws {
        let svg = ThroughputPlot.svg(events: Self.run.events, windows: Self.run.windows, seed: 7)
        for (name, counts) in [("confirms", Self.confirmsPerSecond), ("deliveries", Self.deliveriesPerSecond)] {
            let line = try XCTUnwrap(elements(#"<polyline class="\#(name)""#, in: svg).first)
            let points = try XCTUnwrap(attribute("points", of: line)).split(separator: " ").map { pair in
                pair.split(separator: ",").compactMap { Double($0) }
            }
            XCTAssertEqual(points.count, counts.count, name)
            XCTAssertTrue(points.allSatisfy { $0.count == 2 }, name)
            XCTAssertEqual(points.map { $0[0] }, points.map { $0[0] }.sorted(), "\(name): x runs with the seconds")
            for i in counts.indices {
                for j in counts.indices where counts[i] < counts[j] {
                    XCTAssertGreaterThan(points[i][1], points[j][1], "\(name): second \(j) had more than second \(i), so it is drawn higher")
                }
                for j in counts.indices where counts[i] == counts[j] {
                    XCTAssertEqual(points[i][1], points[j][1], "\(name): seconds \(i) and \(j) had as many")
                }
            }
        }
    }

    func testRunLastsToTheSecondOfItsLastEventOrWindowEnd() {
        XCTAssertEqual(ThroughputPlot.runSeconds(events: [], windows: []), 1)
        XCTAssertEqual(ThroughputPlot.runSeconds(events: Self.run.events, windows: []), 6)
        XCTAssertEqual(ThroughputPlot.runSeconds(events: Self.run.events, windows: [Self.window(1, .split, start: 8_000, heal: 9_000)]), 10)
        XCTAssertEqual(ThroughputPlot.perSecond(Self.run.events, .confirm, seconds: 6), Self.confirmsPerSecond)
    }

    func testTicksAreOneTwoOrFiveTimesAPowerOfTen() {
        XCTAssertEqual(ThroughputPlot.tickStep(span: 0, ticksMax: 5), 1)
        XCTAssertEqual(ThroughputPlot.tickStep(span: 5, ticksMax: 5), 1)
        XCTAssertEqual(ThroughputPlot.tickStep(span: 9, ticksMax: 5), 2)
        XCTAssertEqual(ThroughputPlot.tickStep(span: 230, ticksMax: 5), 50)
        XCTAssertEqual(ThroughputPlot.tickStep(span: 620, ticksMax: 15), 50)
    }

    func testTitleLegendAndAxesAreThere() {
        let svg = ThroughputPlot.svg(events: Self.run.events, windows: Self.run.windows, seed: 424_242)
        XCTAssertTrue(svg.hasPrefix(#"<svg xmlns="http://www.w3.org/2000/svg" width="1200""#))
        XCTAssertTrue(svg.contains(#"<text class="title""#) && svg.contains("seed 424242"))
        let legend = elements(#"<text class="legend""#, in: svg).map { $0.split(separator: ">")[1].prefix { $0 != "<" } }
        XCTAssertEqual(legend, ["confirms/s", "deliveries/s", "kill-leader", "split"])
        XCTAssertTrue(svg.contains(">seconds from the start</text>"))
        XCTAssertTrue(svg.contains(">messages/s</text>"))
        // Rates up to 5 a second: ticks at 0 to 5 on the rate axis; 0 to 6 on the seconds axis.
        XCTAssertEqual(elements(#"<text class="tick-label""#, in: svg).count, 6 + 7)
    }

    func testTextIsEscapedAndTheDocumentWellFormed() {
        XCTAssertEqual(xmlEscaped(#"a<&>"'b"#), "a&lt;&amp;&gt;&quot;&apos;b")
        XCTAssertEqual(xmlEscaped("tab\tbell\u{7}"), "tab\tbell ")
        let windows = [Self.window(1, .killNode, start: 0, heal: 1_000, target: "node <&> \"1\"")]
        let svg = ThroughputPlot.svg(events: Self.run.events, windows: windows, seed: 1)
        XCTAssertTrue(svg.contains("node &lt;&amp;&gt; &quot;1&quot;"))
        XCTAssertFalse(svg.contains("<&>"))
        XCTAssertEqual(wellFormednessProblem(svg), nil)
        XCTAssertEqual(wellFormednessProblem(ThroughputPlot.svg(events: Self.run.events, windows: Self.run.windows, seed: 1)), nil)
        XCTAssertNotNil(wellFormednessProblem("<svg><text>a & b</text></svg>"), "the checker itself catches a bare ampersand")
        XCTAssertNotNil(wellFormednessProblem("<svg><g></svg>"), "and an unclosed element")
    }

    /// Each element of `svg` whose start tag begins with `prefix`, up to the end of that tag
    /// and the text right after it.
    func elements(_ prefix: String, in svg: String) -> [Substring] {
        svg.split(separator: "\n").filter { $0.hasPrefix(prefix) }
    }

    func attribute(_ name: String, of element: Substring) -> String? {
        guard let start = element.firstRange(of: " \(name)=\"") else { return nil }
        return String(element[start.upperBound...].prefix { $0 != "\"" })
    }

    /// What breaks XML in `text`, if anything: unbalanced or crossed tags, a `<` or `&` that
    /// starts no tag or entity, a quote-less attribute value. A stand-in for a parser, which
    /// Foundation on Linux only offers through libxml2.
    func wellFormednessProblem(_ text: String) -> String? {
        var open: [Substring] = []
        var rest = Substring(text)
        while let ampersand = rest.firstIndex(where: { $0 == "&" || $0 == "<" }) {
            rest = rest[ampersand...]
            if rest.first == "&" {
                guard ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(where: { rest.hasPrefix($0) }) else { return "bare & at \(rest.prefix(20))" }
                rest = rest.dropFirst()
                continue
            }
            guard let close = rest.firstIndex(of: ">") else { return "unclosed tag at \(rest.prefix(20))" }
            let tag = rest[rest.index(after: rest.startIndex)..<close]
            rest = rest[rest.index(after: close)...]
            if tag.contains("<") { return "< inside the tag \(tag)" }
            if tag.filter({ $0 == "\"" }).count % 2 != 0 { return "odd quotes in \(tag)" }
            let name = tag.drop { $0 == "/" }.prefix { !$0.isWhitespace && $0 != "/" }
            guard !name.isEmpty else { return "a tag with no name" }
            if tag.hasPrefix("/") {
                guard open.popLast() == name else { return "</\(name)> closes nothing open" }
            } else if !tag.hasSuffix("/") {
                open.append(name)
            }
        }
        return open.isEmpty ? nil : "never closed: \(open)"
    }
}

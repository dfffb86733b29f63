/// Throughput over a run as a self-contained SVG, written by hand so the harness needs no
/// plotting dependency: confirms and deliveries per second as two lines over the run's
/// seconds, each fault window shaded from its start to its heal in its kind's colour.
enum ThroughputPlot {
    static let width = 1200
    /// The plot area's margins: room above for the title, left for the rate labels, below
    /// for the second labels; the legend goes under those.
    static let marginLeft = 70
    static let marginRight = 20
    static let marginTop = 44
    static let marginBottom = 56
    static let plotHeight = 380
    static let legendRowHeight = 20
    static let legendItemWidth = 170
    static let xTicksMax = 15
    static let yTicksMax = 6
    static let confirmColour = "#1f77b4"
    static let deliveryColour = "#2ca02c"
    static let gridColour = "#dddddd"
    /// One colour per fault kind, by the kind's place in `FaultKind.faults`; kinds past the
    /// end of the list share colours rather than go without.
    static let faultPalette = [
        "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f",
        "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
    ]

    static var plotWidth: Int { width - marginLeft - marginRight }

    /// The SVG document for a run's history and its fault windows.
    static func svg(events: [Event], windows: [WindowRecord], seed: UInt64) -> String {
        let seconds = runSeconds(events: events, windows: windows)
        let confirms = perSecond(events, .confirm, seconds: seconds)
        let deliveries = perSecond(events, .deliver, seconds: seconds)
        let highestRate = max(confirms.max() ?? 0, deliveries.max() ?? 0)
        let yStep = tickStep(span: highestRate, ticksMax: yTicksMax)
        // The rate axis ends on a tick, and never at 0 so that a quiet run still has a scale.
        let scale = Scale(seconds: seconds, rateMax: max(yStep, (highestRate + yStep - 1) / yStep * yStep))
        let legend = legendItems(windows: windows)
        let perRow = max(1, plotWidth / legendItemWidth)
        let legendTop = marginTop + plotHeight + marginBottom
        let height = legendTop + (legend.count + perRow - 1) / perRow * legendRowHeight + 10

        var svg = [
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(width)" height="\#(height)" viewBox="0 0 \#(width) \#(height)" font-family="sans-serif" font-size="12">"#,
            #"<rect class="background" x="0" y="0" width="\#(width)" height="\#(height)" fill="white"/>"#,
            #"<text class="title" x="\#(marginLeft)" y="24" font-size="15">\#(xmlEscaped("Berth chaos, seed \(seed): confirms and deliveries per second"))</text>"#,
        ]
        svg += faultShading(windows: windows, scale: scale)
        svg += axes(scale: scale, yStep: yStep)
        svg.append(polyline(confirms, class: "confirms", colour: confirmColour, scale: scale))
        svg.append(polyline(deliveries, class: "deliveries", colour: deliveryColour, scale: scale))
        for (index, item) in legend.enumerated() {
            let x = marginLeft + index % perRow * legendItemWidth
            let y = legendTop + index / perRow * legendRowHeight
            svg.append(item.swatch(x: x, y: y))
            svg.append(#"<text class="legend" x="\#(x + 26)" y="\#(y + 4)">\#(xmlEscaped(item.label))</text>"#)
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    /// The run's length in whole seconds, up to and with the second of its last event or window end.
    static func runSeconds(events: [Event], windows: [WindowRecord]) -> Int {
        let lastMillis = max(events.map(\.millis).max() ?? 0, windows.map(\.endMillis).max() ?? 0)
        return Int(max(0, lastMillis) / 1000) + 1
    }

    /// How many events of `kind` fell in each second of `0..<seconds`.
    static func perSecond(_ events: [Event], _ kind: Event.Kind, seconds: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: seconds)
        for event in events where event.kind == kind && event.millis >= 0 {
            let second = Int(event.millis / 1000)
            if second < seconds { counts[second] += 1 }
        }
        return counts
    }

    /// The step between ticks over `0...span`: 1, 2 or 5 times a power of ten, the smallest
    /// giving at most `ticksMax` steps.
    static func tickStep(span: Int, ticksMax: Int) -> Int {
        var magnitude = 1
        while true {
            for factor in [1, 2, 5] where span <= factor * magnitude * ticksMax {
                return factor * magnitude
            }
            magnitude *= 10
        }
    }

    static func colour(of kind: FaultKind) -> String {
        guard let index = FaultKind.faults.firstIndex(of: kind) else { return "#999999" }
        return faultPalette[index % faultPalette.count]
    }

    /// Seconds and messages per second to pixels.
    struct Scale {
        var seconds: Int
        var rateMax: Int

        func x(_ second: Double) -> Double {
            Double(marginLeft) + second / Double(seconds) * Double(plotWidth)
        }

        func y(_ rate: Int) -> Double {
            Double(marginTop) + Double(plotHeight) * (1 - Double(rate) / Double(rateMax))
        }
    }

    /// Each rate at the middle of its second.
    static func polyline(_ rates: [Int], class name: String, colour: String, scale: Scale) -> String {
        let points = rates.enumerated().map { second, rate in "\(pixels(scale.x(Double(second) + 0.5))),\(pixels(scale.y(rate)))" }
        return #"<polyline class="\#(name)" fill="none" stroke="\#(colour)" stroke-width="1.5" points="\#(points.joined(separator: " "))"/>"#
    }

    /// A translucent band per fault window from its start to its heal, with the window's
    /// number and kind written up its left edge and the details on hover.
    static func faultShading(windows: [WindowRecord], scale: Scale) -> [String] {
        var elements: [String] = []
        for record in windows where record.window.kind != .none {
            let left = scale.x(Double(record.startMillis) / 1000)
            let bandWidth = max(1, scale.x(Double(record.healMillis) / 1000) - left)
            let hover = "window \(record.window.number): \(record.window.kind.rawValue) \(record.target), \(Checker.seconds(record.startMillis))-\(Checker.seconds(record.healMillis)) s"
            elements.append(
                #"<rect class="fault" x="\#(pixels(left))" y="\#(marginTop)" width="\#(pixels(bandWidth))" height="\#(plotHeight)" fill="\#(colour(of: record.window.kind))" fill-opacity="0.2"><title>\#(xmlEscaped(hover))</title></rect>"#)
            let labelX = pixels(left + 12)
            let labelY = marginTop + 6
            elements.append(
                #"<text class="fault-label" x="\#(labelX)" y="\#(labelY)" text-anchor="end" font-size="11" transform="rotate(-90 \#(labelX) \#(labelY))">\#(xmlEscaped("\(record.window.number) \(record.window.kind.rawValue)"))</text>"#)
        }
        return elements
    }

    /// The two axes with their ticks, labels and light grid lines across the plot.
    static func axes(scale: Scale, yStep: Int) -> [String] {
        let bottom = marginTop + plotHeight
        let right = marginLeft + plotWidth
        var elements = [
            #"<line class="axis" x1="\#(marginLeft)" y1="\#(bottom)" x2="\#(right)" y2="\#(bottom)" stroke="black"/>"#,
            #"<line class="axis" x1="\#(marginLeft)" y1="\#(marginTop)" x2="\#(marginLeft)" y2="\#(bottom)" stroke="black"/>"#,
        ]
        for second in stride(from: 0, through: scale.seconds, by: tickStep(span: scale.seconds, ticksMax: xTicksMax)) {
            let x = pixels(scale.x(Double(second)))
            elements.append(#"<line class="tick" x1="\#(x)" y1="\#(bottom)" x2="\#(x)" y2="\#(bottom + 5)" stroke="black"/>"#)
            elements.append(#"<text class="tick-label" x="\#(x)" y="\#(bottom + 19)" text-anchor="middle">\#(second)</text>"#)
        }
        for rate in stride(from: 0, through: scale.rateMax, by: yStep) {
            let y = pixels(scale.y(rate))
            elements.append(#"<line class="grid" x1="\#(marginLeft)" y1="\#(y)" x2="\#(right)" y2="\#(y)" stroke="\#(gridColour)"/>"#)
            elements.append(#"<line class="tick" x1="\#(marginLeft - 5)" y1="\#(y)" x2="\#(marginLeft)" y2="\#(y)" stroke="black"/>"#)
            elements.append(#"<text class="tick-label" x="\#(marginLeft - 8)" y="\#(y)" text-anchor="end" dominant-baseline="middle">\#(rate)</text>"#)
        }
        let middleY = marginTop + plotHeight / 2
        elements.append(#"<text class="axis-label" x="\#(marginLeft + plotWidth / 2)" y="\#(bottom + 40)" text-anchor="middle">seconds from the start</text>"#)
        elements.append(#"<text class="axis-label" x="18" y="\#(middleY)" text-anchor="middle" transform="rotate(-90 18 \#(middleY))">messages/s</text>"#)
        return elements
    }

    /// One entry of the legend: a line for a rate, a band for a fault kind.
    struct LegendItem {
        var label: String
        var colour: String
        var isFault: Bool

        func swatch(x: Int, y: Int) -> String {
            isFault
                ? #"<rect class="legend-fault" x="\#(x)" y="\#(y - 6)" width="20" height="12" fill="\#(colour)" fill-opacity="0.2" stroke="\#(colour)"/>"#
                : #"<line class="legend-line" x1="\#(x)" y1="\#(y)" x2="\#(x + 20)" y2="\#(y)" stroke="\#(colour)" stroke-width="2"/>"#
        }
    }

    /// The two rates, then every fault kind the run had, in `FaultKind.allCases` order.
    static func legendItems(windows: [WindowRecord]) -> [LegendItem] {
        let kinds = Set(windows.map(\.window.kind))
        return [
            LegendItem(label: "confirms/s", colour: confirmColour, isFault: false),
            LegendItem(label: "deliveries/s", colour: deliveryColour, isFault: false),
        ] + FaultKind.faults.filter { kinds.contains($0) }.map { LegendItem(label: $0.rawValue, colour: colour(of: $0), isFault: true) }
    }

    /// A coordinate with one decimal, which is finer than a pixel and keeps the file small.
    static func pixels(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return (tenths < 0 ? "-" : "") + "\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }
}

/// `text` made safe as XML character data or an attribute value.
func xmlEscaped(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        // XML 1.0 allows no control characters but tab and line breaks.
        case _ where character.asciiValue.map { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D } ?? false: out += " "
        default: out.append(character)
        }
    }
    return out
}

import ClusterAPI

/// The page before an action: what would happen (the `check` verdict, or the drain plan), and a form to go ahead.
struct ConfirmPage {
    struct Verdict {
        let tone: String
        let headline: String
        let reasons: [ReasonRow]
        let hasReasons: Bool
    }

    struct Field {
        let name: String
        let value: String
    }

    struct Move {
        let vm: String
        let target: String
    }

    struct Stay {
        let vm: String
        let reasons: [ReasonRow]
    }

    let frame: Frame
    let question: String
    let verdict: Verdict?
    let moves: [Move]
    let hasMoves: Bool
    let stays: [Stay]
    let hasStays: Bool
    let canProceed: Bool
    let action: String
    let fields: [Field]
    let button: String
    let cancelHref: String

    init(
        frame: Frame,
        question: String,
        verdict: Verdict?,
        moves: [Move] = [],
        stays: [Stay] = [],
        canProceed: Bool,
        action: String,
        fields: [Field] = [],
        button: String,
        cancelHref: String
    ) {
        self.frame = frame
        self.question = question
        self.verdict = verdict
        self.moves = moves
        hasMoves = !moves.isEmpty
        self.stays = stays
        hasStays = !stays.isEmpty
        self.canProceed = canProceed
        self.action = action
        self.fields = fields
        self.button = button
        self.cancelHref = cancelHref
    }

    static func verdict(_ check: CheckResponse) -> Verdict {
        Verdict(
            tone: check.allowed ? "ok" : "critical",
            headline: check.allowed
                ? "Allowed: every file of \(check.vm) is reachable from \(check.target)."
                : "Refused: \(check.vm) cannot move to \(check.target) without stranding a file.",
            reasons: check.reasons.map(ReasonRow.init),
            hasReasons: !check.reasons.isEmpty
        )
    }
}

/// The page after an action.
struct ResultPage {
    struct Row {
        let vm: String
        let outcome: String
        let reasons: [ReasonRow]
        let hasReasons: Bool
    }

    struct Link {
        let href: String
        let label: String
    }

    let frame: Frame
    let tone: String
    let headline: String
    let detail: String?
    let reasons: [ReasonRow]
    let hasReasons: Bool
    let rows: [Row]
    let hasRows: Bool
    let links: [Link]

    init(
        frame: Frame,
        tone: String,
        headline: String,
        detail: String? = nil,
        reasons: [ReasonJSON] = [],
        rows: [Row] = [],
        links: [Link]
    ) {
        self.frame = frame
        self.tone = tone
        self.headline = headline
        self.detail = detail
        self.reasons = reasons.map(ReasonRow.init)
        hasReasons = !reasons.isEmpty
        self.rows = rows
        hasRows = !rows.isEmpty
        self.links = links
    }
}

/// `/ui/login`.
struct LoginPage {
    let frame: Frame
    let error: String?
    let next: String
}

/// A refusal or failure, as a page.
struct ErrorPage {
    let frame: Frame
    let code: String
    let message: String
}

//! What one step came to: success or failure, the exit code of a command, and a summary line.
//! A leaf: every action family builds its answer here; it never runs anything itself.

/// The result of one step, sent to the server as the task's result.
pub(crate) struct Outcome {
    pub(crate) success: bool,
    pub(crate) exit_code: Option<i64>,
    pub(crate) summary: String,
}

/// A step that did what it was asked.
pub(crate) fn ok(summary: impl Into<String>) -> Outcome {
    Outcome {
        success: true,
        exit_code: None,
        summary: summary.into(),
    }
}

/// A step that failed, saying why.
pub(crate) fn fail(summary: impl Into<String>) -> Outcome {
    Outcome {
        success: false,
        exit_code: None,
        summary: summary.into(),
    }
}

//! The doctor's report: one line per check, ✓, ✗ with its fix, or – for a
//! check that was not run and why; and the exit code.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Pass,
    Fail,
    /// Not run: its prerequisite failed, or what it needs was not given.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub mark: Mark,
    /// What was checked (`Slack token`, `channel C0JOBS`).
    pub check: String,
    pub detail: String,
    /// For a ✗: what to do about it.
    pub fix: Option<String>,
}

impl Line {
    pub fn pass(check: impl Into<String>, detail: impl Into<String>) -> Line {
        Line { mark: Mark::Pass, check: check.into(), detail: detail.into(), fix: None }
    }

    pub fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Line {
        Line { mark: Mark::Fail, check: check.into(), detail: detail.into(), fix: Some(fix.into()) }
    }

    pub fn skip(check: impl Into<String>, why: impl Into<String>) -> Line {
        Line { mark: Mark::Skip, check: check.into(), detail: format!("not run: {}", why.into()), fix: None }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.mark {
            Mark::Pass => '✓',
            Mark::Fail => '✗',
            Mark::Skip => '–',
        };
        write!(f, "{mark} {}: {}", self.check, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n    fix: {fix}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    pub fn push(&mut self, line: Line) {
        self.lines.push(line);
    }

    pub fn failures(&self) -> usize {
        self.lines.iter().filter(|l| l.mark == Mark::Fail).count()
    }

    /// 0 when every check that ran holds, 1 otherwise. A check not run
    /// because its prerequisite failed adds nothing: that failure counts.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failures() > 0)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        let skipped = self.lines.iter().filter(|l| l.mark == Mark::Skip).count();
        let ran = self.lines.len() - skipped;
        match self.failures() {
            0 => write!(f, "\nAll {ran} checks hold")?,
            n => write!(f, "\n{n} of {ran} checks failed; each ✗ says what to do")?,
        }
        if skipped > 0 {
            write!(f, " ({skipped} not run)")?;
        }
        writeln!(f, ".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_marks_fixes_and_exit_codes() {
        let mut report = Report::default();
        report.push(Line::pass("table t", "ACTIVE, TTL on expires_at"));
        assert_eq!(report.exit_code(), 0);
        report.push(Line::skip("function errors", "no function known: run with --stack NAME"));
        assert_eq!(report.exit_code(), 0, "a check not asked for is no failure");
        assert_eq!(
            report.to_string(),
            "✓ table t: ACTIVE, TTL on expires_at\n– function errors: not run: no function known: run with --stack NAME\n\nAll 1 checks hold (1 not run).\n"
        );

        report.push(Line::fail("channel C0OPS (#ops)", "the bot is not a member", "/invite @notifier in #ops"));
        assert_eq!(report.exit_code(), 1);
        let text = report.to_string();
        assert!(
            text.contains("✗ channel C0OPS (#ops): the bot is not a member\n    fix: /invite @notifier in #ops\n"),
            "{text}"
        );
        assert!(text.ends_with("\n1 of 2 checks failed; each ✗ says what to do (1 not run).\n"), "{text}");
    }
}

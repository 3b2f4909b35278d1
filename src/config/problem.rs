//! A problem (or warning) found in a configuration: the key it is about and
//! what is wrong with it, phrased so that the fix is in the message. The
//! same values are printed by `check-config`, by `serve` when it refuses to
//! start and by a rejected reload, so all three read alike.

use std::collections::HashSet;
use std::fmt;

/// One finding about one key. `key` is a path as the TOML file spells it
/// (`server.listen`, `clients[1].scopes[0]`); empty when the problem is
/// about the file as a whole (a syntax error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// What one section's validator found: problems make the configuration
/// unusable, warnings do not.
#[derive(Debug, Default)]
pub(super) struct Findings {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Findings {
    pub fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(key, message));
    }

    pub fn warning(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem::new(key, message));
    }

    /// Moves `checked`'s findings into `self`; its value is returned only
    /// when it brought no problem.
    pub fn take<T>(&mut self, checked: Checked<T>) -> Option<T> {
        let clean = checked.findings.problems.is_empty();
        self.problems.extend(checked.findings.problems);
        self.warnings.extend(checked.findings.warnings);
        clean.then_some(checked.value)
    }
}

/// A section's value (built even when it has problems, so that later
/// sections can still be checked against it) and what was found.
#[derive(Debug)]
pub(super) struct Checked<T> {
    pub value: T,
    pub findings: Findings,
}

impl<T> Checked<T> {
    pub fn new(value: T, findings: Findings) -> Self {
        Self { value, findings }
    }
}

/// The sections (`tokens`, `clients[0]`, and `""` for the top level) in
/// which a key was dropped as unknown or mistyped. A key missing from such
/// a section is most likely that key, misspelt: what its absence causes is
/// not reported too, so that one typo reads as one problem.
#[derive(Debug, Default)]
pub(super) struct Dropped(HashSet<String>);

impl Dropped {
    pub fn insert(&mut self, section: String) {
        self.0.insert(section);
    }

    /// Whether a key was dropped directly in `section`.
    pub fn any_in(&self, section: &str) -> bool {
        self.0.contains(section)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_reads_key_then_message() {
        let p = Problem::new("server.workers", "must be a number");
        assert_eq!(p.to_string(), "server.workers: must be a number");
        assert_eq!(Problem::new("", "syntax").to_string(), "syntax");
    }
}

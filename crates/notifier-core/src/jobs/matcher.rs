//! Which tasks a rule's `match` takes.

use serde::Deserialize;

use crate::event::EcsTask;

/// All given conditions must hold. Names may use `*` as a wildcard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    /// A substring of a container's command override (words joined by spaces).
    #[serde(default)]
    pub command: Option<String>,
    /// Override environment variables that must have these values.
    #[serde(default)]
    pub environment: std::collections::BTreeMap<String, String>,
}

impl Matcher {
    pub(super) fn matches(&self, task: &EcsTask) -> bool {
        let family_ok = self.family.as_deref().is_none_or(|want| task.family().is_some_and(|f| glob(want, f)));
        let container_ok =
            self.container.as_deref().is_none_or(|want| task.containers.iter().any(|c| glob(want, &c.name)));
        let command_ok = self
            .command
            .as_deref()
            .is_none_or(|want| task.command_overrides().any(|(_, command)| command.join(" ").contains(want)));
        let environment_ok = self
            .environment
            .iter()
            .all(|(name, value)| task.environment_overrides().any(|(n, v)| n == name && v == value));
        family_ok && container_ok && command_ok && environment_ok
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

//! The one error a shop's configuration can have, for every part of it (the shop's settings,
//! each flow's, points). A leaf: it depends on nothing else in the crate, so the flow modules
//! that validate their own sections and `config`, which holds them, do not import each other
//! for it.

/// A configuration problem, naming the field so the merchant knows what to change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The file is not TOML of the expected shape; the parser's text, with a "did you mean"
    /// when a key is a near miss of a known one.
    #[error("{0}")]
    Syntax(String),
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
}

impl ConfigError {
    /// `field` holds a value that cannot be right, for `problem`.
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            field,
            problem: problem.into(),
        }
    }

    /// The TOML parser's error, with the known key it most likely meant when it names an
    /// unknown one (`survey_days` → `survey_delay_days`).
    pub fn syntax(err: &toml::de::Error) -> ConfigError {
        let text = err.to_string();
        match did_you_mean(err.message()) {
            Some(known) => ConfigError::Syntax(format!("{}\ndid you mean `{known}`?", text.trim_end())),
            None => ConfigError::Syntax(text),
        }
    }
}

/// From serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`"), the
/// expected key closest to `x`, when it is close enough to be a typo of it.
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest
        .strip_prefix(", expected one of ")
        .or_else(|| rest.strip_prefix(", expected "))?;
    expected
        .split(", ")
        .filter_map(|known| known.trim().strip_prefix('`')?.strip_suffix('`'))
        .map(|known| (strsim::jaro_winkler(unknown, known), known))
        .filter(|(likeness, _)| *likeness >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, known)| known.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_names_the_key_it_meant() {
        let cases = [
            (
                "unknown field `survey_days`, expected one of `enabled`, `survey_delay_days`, `channel`",
                Some("survey_delay_days"),
            ),
            (
                "unknown field `quiet_hour`, expected one of `shop`, `quiet_hours`, `caps`",
                Some("quiet_hours"),
            ),
            ("unknown field `enabeld`, expected `enabled`", Some("enabled")),
            // Nothing like any known key: no guess.
            (
                "unknown field `colour`, expected one of `enabled`, `guides`",
                None,
            ),
            ("invalid type: string \"x\", expected u32", None),
        ];
        for (message, expected) in cases {
            assert_eq!(did_you_mean(message).as_deref(), expected, "{message}");
        }
    }
}

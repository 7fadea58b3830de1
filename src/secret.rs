//! Key material and secrets: masking for anything a person or a log can see.

/// Masks a secret to its last 4 characters (`****6040`); shorter values are masked entirely.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len().max(4));
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

/// A secret string (client secret, connection password) whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The clear value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_only_the_last_four() {
        assert_eq!(mask("7374757A3FDD092947CE2DE9321C6040"), "****6040");
        assert_eq!(mask("abc"), "****");
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("tpbulk-sim-secret");
        assert!(!format!("{s:?} {s}").contains("sim-secret"));
        assert_eq!(s.expose(), "tpbulk-sim-secret");
    }
}

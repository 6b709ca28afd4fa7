//! Text from outside (API and mail server answers) kept to a bounded size
//! before it reaches logs, the state file, the status page or mail.

/// `text` cut to at most `max` characters, saying how much was left out.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} more bytes cut)", &text[..end], text.len() - end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_unchanged_and_long_text_is_cut_on_a_char_boundary() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("流量包流量包", 2), "流量… (12 more bytes cut)");
        assert_eq!(
            truncate_chars(&"x".repeat(1_000_000), 5),
            "xxxxx… (999995 more bytes cut)"
        );
    }
}

//! E.164 phone numbers (spec 7): syntax check and normalisation of human-typed numbers before
//! they reach the REST API (where a bad one costs a round trip and a 21211).

/// Whether `number` is E.164 syntax: `+`, a first digit 1–9, at most 15 digits in all
/// (`^\+[1-9]\d{1,14}$`). Syntax only: whether the number exists needs a lookup.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Normalises a number as a person or an LLM writes it: drops spaces, dashes, dots and
/// parentheses, maps a leading `00` to `+`, and prefixes `default_country_code` (digits, e.g.
/// `"1"` or `"44"`) to national numbers, dropping their trunk `0`. Returns `None` when the
/// result is still not E.164.
///
/// ```
/// assert_eq!(telephony::e164::normalize("(415) 555-0100", "1").as_deref(), Some("+14155550100"));
/// assert_eq!(telephony::e164::normalize("020 7183 8750", "44").as_deref(), Some("+442071838750"));
/// assert_eq!(telephony::e164::normalize("0049 30 123456", "1").as_deref(), Some("+4930123456"));
/// ```
pub fn normalize(input: &str, default_country_code: &str) -> Option<String> {
    let trimmed = input.trim();
    let plus = trimmed.starts_with('+');
    let mut digits = String::with_capacity(trimmed.len());
    for c in trimmed.chars().skip(usize::from(plus)) {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return None,
        }
    }
    let candidate = if plus {
        format!("+{digits}")
    } else if let Some(international) = digits.strip_prefix("00") {
        format!("+{international}")
    } else {
        let national = digits.strip_prefix('0').unwrap_or(&digits);
        // NANP numbers are often written with their country code but no `+` (1 415 555 0100).
        if default_country_code == "1" && national.len() == 11 && national.starts_with('1') {
            format!("+{national}")
        } else {
            format!("+{default_country_code}{national}")
        }
    };
    is_e164(&candidate).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_only_plus_and_up_to_fifteen_digits() {
        assert!(is_e164("+14155552671"));
        assert!(is_e164("+442071838750"));
        assert!(!is_e164("14155552671"));
        assert!(!is_e164("+04155552671"));
        assert!(!is_e164("+1 415 555 2671"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+1"));
    }

    #[test]
    fn normalize_strips_formatting_and_adds_country() {
        assert_eq!(
            normalize("+1 (415) 555-2671", "1").as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            normalize("1-415-555-2671", "1").as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            normalize("030 123456", "49").as_deref(),
            Some("+4930123456")
        );
        assert_eq!(normalize("call me", "1"), None);
        assert_eq!(normalize("+1555", "1").as_deref(), Some("+1555"));
    }
}

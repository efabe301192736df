//! A small E.164 normaliser: enough to turn what CRM exports hold ("(415) 555-0104",
//! "+44 20 7946 0105", "0033 1 42 68 01 09", "020 7946 0105") into the one form the carrier
//! dials and the store keys contacts on. It is deliberately not a full numbering-plan database:
//! it validates the shape (8–15 digits, a country code that does not start with 0) and the
//! North American rules that catch most typos, and refuses anything it cannot read.

/// Why a phone number could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but separators (or nothing at all).
    #[error("phone number is empty")]
    Empty,
    /// Letters or other symbols that no phone number contains.
    #[error("invalid phone number {0:?}: contains characters that are not digits or separators")]
    BadCharacters(String),
    /// After normalisation the number has too few or too many digits for E.164.
    #[error("invalid phone number {0:?}: an international number has 8 to 15 digits")]
    BadLength(String),
    /// A North American number whose area code or exchange starts with 0 or 1, or that does
    /// not have 10 digits after the country code.
    #[error("invalid phone number {0:?}: not a valid North American number")]
    BadNanp(String),
    /// A national number (no "+" or "00") whose length does not fit the default region.
    #[error("invalid phone number {0:?}: national number of the wrong length for region {1}")]
    BadNational(String, String),
    /// A country code cannot start with 0.
    #[error("invalid phone number {0:?}: country codes do not start with 0")]
    BadCountryCode(String),
    /// The default region is not one this normaliser knows.
    #[error("unknown default region {0:?}")]
    UnknownRegion(String),
}

/// A region's calling code and the prefix dialed before national numbers ("0" in most of
/// Europe), which is dropped when the number is written internationally. Italy and Spain have no
/// trunk prefix (the leading 0 of an Italian number is part of it).
struct Region {
    code: &'static str,
    calling_code: &'static str,
    trunk_prefix: Option<&'static str>,
    /// The international call prefix besides "+" ("00" almost everywhere, "011" in NANP).
    international_prefix: &'static str,
}

const REGIONS: &[Region] = &[
    nanp("US"),
    nanp("CA"),
    nanp("PR"),
    eu("GB", "44"),
    eu("IE", "353"),
    eu("FR", "33"),
    eu("DE", "49"),
    eu("NL", "31"),
    eu("BE", "32"),
    eu("CH", "41"),
    eu("AT", "43"),
    eu("SE", "46"),
    eu("AU", "61"),
    eu("NZ", "64"),
    eu("IN", "91"),
    eu("ZA", "27"),
    Region {
        code: "IT",
        calling_code: "39",
        trunk_prefix: None,
        international_prefix: "00",
    },
    Region {
        code: "ES",
        calling_code: "34",
        trunk_prefix: None,
        international_prefix: "00",
    },
    Region {
        code: "MX",
        calling_code: "52",
        trunk_prefix: None,
        international_prefix: "00",
    },
    Region {
        code: "BR",
        calling_code: "55",
        trunk_prefix: Some("0"),
        international_prefix: "00",
    },
];

const fn nanp(code: &'static str) -> Region {
    Region {
        code,
        calling_code: "1",
        trunk_prefix: Some("1"),
        international_prefix: "011",
    }
}

const fn eu(code: &'static str, calling_code: &'static str) -> Region {
    Region {
        code,
        calling_code,
        trunk_prefix: Some("0"),
        international_prefix: "00",
    }
}

/// Whether `region` (ISO 3166 alpha-2, any case) is one [`normalize_phone`] knows.
pub fn is_known_region(region: &str) -> bool {
    find_region(region).is_some()
}

fn find_region(region: &str) -> Option<&'static Region> {
    REGIONS
        .iter()
        .find(|r| r.code.eq_ignore_ascii_case(region.trim()))
}

/// Normalises `raw` to E.164 ("+14155550104"). Numbers without "+" or an international prefix
/// are read as national numbers of `default_region` (ISO 3166 alpha-2, e.g. "US", "GB").
pub fn normalize_phone(raw: &str, default_region: &str) -> Result<String, PhoneError> {
    let region = find_region(default_region)
        .ok_or_else(|| PhoneError::UnknownRegion(default_region.into()))?;
    let trimmed = raw.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            // Separators people type; a "+" anywhere but first is not one of them.
            ' ' | '.' | '-' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return Err(PhoneError::BadCharacters(raw.into())),
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }

    let international = if plus {
        digits
    } else if let Some(after) = digits
        .strip_prefix(region.international_prefix)
        .or_else(|| digits.strip_prefix("00"))
    {
        after.to_owned()
    } else if region.calling_code == "1" {
        // NANP: 10 digits, or 11 with the leading 1 the US dials long distance.
        match digits.len() {
            10 => format!("1{digits}"),
            11 if digits.starts_with('1') => digits,
            _ => return Err(PhoneError::BadNational(raw.into(), region.code.into())),
        }
    } else {
        let national = match region.trunk_prefix {
            Some(p) => digits.strip_prefix(p).unwrap_or(&digits),
            None => &digits,
        };
        // A national significant number is at least 4 digits anywhere in the world.
        if national.len() < 4 {
            return Err(PhoneError::BadNational(raw.into(), region.code.into()));
        }
        format!("{}{national}", region.calling_code)
    };

    validate_e164(&international, raw)?;
    Ok(format!("+{international}"))
}

fn validate_e164(digits: &str, raw: &str) -> Result<(), PhoneError> {
    if !(8..=15).contains(&digits.len()) {
        return Err(PhoneError::BadLength(raw.into()));
    }
    if digits.starts_with('0') {
        return Err(PhoneError::BadCountryCode(raw.into()));
    }
    if let Some(national) = digits.strip_prefix('1') {
        // NPA-NXX-XXXX: area code and exchange both start with 2–9.
        let b = national.as_bytes();
        if b.len() != 10 || b[0] < b'2' || b[3] < b'2' {
            return Err(PhoneError::BadNanp(raw.into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_national_formats_become_e164() {
        for raw in [
            "(415) 555-0104",
            "415.555.0104",
            "1-415-555-0104",
            "4155550104",
        ] {
            assert_eq!(normalize_phone(raw, "US").unwrap(), "+14155550104", "{raw}");
        }
    }

    #[test]
    fn plus_and_international_prefixes_are_kept_as_international() {
        assert_eq!(
            normalize_phone("+44 20 7946 0105", "US").unwrap(),
            "+442079460105"
        );
        assert_eq!(
            normalize_phone("0033 1 42 68 01 09", "GB").unwrap(),
            "+33142680109"
        );
        assert_eq!(
            normalize_phone("011 33 1 42 68 01 09", "US").unwrap(),
            "+33142680109"
        );
    }

    #[test]
    fn gb_trunk_zero_is_replaced_by_44() {
        assert_eq!(
            normalize_phone("020 7946 0105", "gb").unwrap(),
            "+442079460105"
        );
    }

    #[test]
    fn italian_leading_zero_is_part_of_the_number() {
        assert_eq!(
            normalize_phone("06 1234 5678", "IT").unwrap(),
            "+390612345678"
        );
    }

    #[test]
    fn letters_and_bad_lengths_are_rejected() {
        assert!(matches!(
            normalize_phone("not-a-number", "US"),
            Err(PhoneError::BadCharacters(_))
        ));
        assert!(matches!(
            normalize_phone("555-0104", "US"),
            Err(PhoneError::BadNational(..))
        ));
        assert!(matches!(
            normalize_phone("+1234567", "US"),
            Err(PhoneError::BadLength(_))
        ));
        assert!(matches!(
            normalize_phone("+1234567890123456", "US"),
            Err(PhoneError::BadLength(_))
        ));
        assert_eq!(normalize_phone(" - ", "US"), Err(PhoneError::Empty));
        assert!(matches!(
            normalize_phone("+44 20 +7946", "US"),
            Err(PhoneError::BadCharacters(_))
        ));
    }

    #[test]
    fn nanp_area_code_and_exchange_cannot_start_with_0_or_1() {
        assert!(matches!(
            normalize_phone("(015) 555-0104", "US"),
            Err(PhoneError::BadNanp(_))
        ));
        assert!(matches!(
            normalize_phone("+1 415 155 0104", "US"),
            Err(PhoneError::BadNanp(_))
        ));
        assert!(matches!(
            normalize_phone("+1 415 555 01045", "US"),
            Err(PhoneError::BadNanp(_))
        ));
    }

    #[test]
    fn unknown_region_is_an_error() {
        assert_eq!(
            normalize_phone("12345678", "XX"),
            Err(PhoneError::UnknownRegion("XX".into()))
        );
    }
}

//! Twilio-shaped identifiers: two-letter prefix + 32 lowercase hex digits.

use rand::Rng;

/// A fresh random SID such as `CA0f3c...` (prefix + 32 hex digits).
pub fn new_sid(prefix: &str) -> String {
    let n: u128 = rand::rng().random();
    format!("{prefix}{n:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_have_prefix_and_32_hex_digits() {
        let sid = new_sid("CA");
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("CA"));
        assert!(sid[2..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_sid("CA"), sid);
    }
}

//! Turning the bytes of a customer's CSV file into text and finding its delimiter.

/// UTF-8 text with a leading byte-order mark removed. Files that are not UTF-8 are read as
/// Windows-1252, which is what spreadsheet programs write when they do not write UTF-8: it keeps
/// "Chloé" readable instead of rejecting the whole file.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

fn windows_1252(b: u8) -> char {
    // 0x80–0x9F are the only bytes where Windows-1252 differs from Latin-1 (= Unicode U+00xx).
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The delimiter of the header line (the first non-blank line): whichever of comma, semicolon
/// (European spreadsheets) or tab occurs most often outside quotes; comma on a tie.
pub(crate) fn sniff_delimiter(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    for c in header.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => counts[0] += 1,
            ';' if !in_quotes => counts[1] += 1,
            '\t' if !in_quotes => counts[2] += 1,
            _ => {}
        }
    }
    let delimiters = [b',', b';', b'\t'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    delimiters[best]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_is_stripped() {
        assert_eq!(decode(b"\xEF\xBB\xBFName,Phone"), "Name,Phone");
    }

    #[test]
    fn non_utf8_is_read_as_windows_1252() {
        assert_eq!(decode(b"Chlo\xE9 \x80"), "Chloé €");
    }

    #[test]
    fn delimiter_is_the_most_common_one_outside_quotes() {
        assert_eq!(sniff_delimiter("Name;Phone;Status\n"), b';');
        assert_eq!(sniff_delimiter("\n\nName\tPhone\tStatus"), b'\t');
        assert_eq!(sniff_delimiter("\"a;b;c\",Phone"), b',');
        assert_eq!(sniff_delimiter("Phone"), b',');
    }
}

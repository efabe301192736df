//! Documents to passages: Markdown parsed down to plain text under its heading path, cut into
//! passages of [`MIN_WORDS`]–[`MAX_WORDS`] words, and sentences; plus what turns a sentence into
//! something a voice can say.

/// Passages grow to at least this many words when a section allows it…
const MIN_WORDS: usize = 40;
/// …and never beyond this many.
const MAX_WORDS: usize = 120;
/// Shorter sentences ("Yes.") are joined to the next one.
const MIN_SENTENCE_WORDS: usize = 4;

pub(super) fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

/// Cuts a document into `(heading path, plain-text passage)` pairs. Sections never share a
/// passage (a heading starts a new topic); inside a section, paragraphs are merged until a
/// passage has [`MIN_WORDS`], and long paragraphs are split between sentences at [`MAX_WORDS`].
pub(super) fn chunk_document(text: &str, markdown: bool) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for (heading_path, paragraphs) in sections(text, markdown) {
        let mut current: Vec<String> = Vec::new();
        let mut words = 0;
        let mut flush = |current: &mut Vec<String>, words: &mut usize| {
            if !current.is_empty() {
                out.push((heading_path.clone(), current.join(" ")));
                current.clear();
                *words = 0;
            }
        };
        for para in paragraphs {
            for piece in split_long(&para) {
                let n = word_count(&piece);
                if words > 0 && (words >= MIN_WORDS || words + n > MAX_WORDS) {
                    flush(&mut current, &mut words);
                }
                current.push(piece);
                words += n;
            }
        }
        flush(&mut current, &mut words);
    }
    out
}

/// Pieces of at most [`MAX_WORDS`] words, cut between sentences where possible.
fn split_long(paragraph: &str) -> Vec<String> {
    if word_count(paragraph) <= MAX_WORDS {
        return vec![paragraph.to_owned()];
    }
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    for sentence in split_sentences(paragraph) {
        let words: Vec<&str> = sentence.split_whitespace().collect();
        for part in words.chunks(MAX_WORDS) {
            let part = part.join(" ");
            if !current.is_empty() && word_count(&current) + word_count(&part) > MAX_WORDS {
                pieces.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&part);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// The sections of a document: heading path and plain-text paragraphs.
fn sections(text: &str, markdown: bool) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out: Vec<(Vec<String>, Vec<String>)> = vec![(Vec::new(), Vec::new())];
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let mut in_fence = false;
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    // YAML front matter carries metadata, not content.
    if markdown && lines.first().is_some_and(|l| l.trim() == "---") {
        if let Some(end) = lines.iter().skip(1).position(|l| l.trim() == "---") {
            i = end + 2;
        }
    }
    let end_paragraph = |para: &mut Vec<String>, out: &mut Vec<(Vec<String>, Vec<String>)>| {
        let joined = para.join(" ");
        para.clear();
        if !joined.trim().is_empty() {
            if let Some(last) = out.last_mut() {
                last.1.push(joined);
            }
        }
    };
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if markdown && (line.starts_with("```") || line.starts_with("~~~")) {
            // Code is not something to say on the phone.
            in_fence = !in_fence;
            end_paragraph(&mut para, &mut out);
            continue;
        }
        if in_fence {
            continue;
        }
        if line.is_empty() {
            end_paragraph(&mut para, &mut out);
            continue;
        }
        let heading = if markdown { atx_heading(line) } else { None };
        // Setext: "Title" underlined with === (level 1) or --- (level 2).
        let setext = markdown
            && para.len() == 1
            && line.len() >= 3
            && (line.chars().all(|c| c == '=') || line.chars().all(|c| c == '-'));
        if let Some((level, title)) = heading.or_else(|| {
            setext.then(|| {
                let level = if line.starts_with('=') { 1 } else { 2 };
                (level, para.pop().unwrap_or_default())
            })
        }) {
            end_paragraph(&mut para, &mut out);
            path.retain(|(l, _)| *l < level);
            path.push((level, title));
            out.push((path.iter().map(|(_, t)| t.clone()).collect(), Vec::new()));
            continue;
        }
        if markdown && (is_table_rule(line) || is_thematic_break(line)) {
            continue;
        }
        let plain = if markdown {
            markdown_line_to_text(line)
        } else {
            line.to_owned()
        };
        if !plain.is_empty() {
            para.push(plain);
        }
    }
    end_paragraph(&mut para, &mut out);
    out.retain(|(_, paragraphs)| !paragraphs.is_empty());
    out
}

/// `# Title` → (1, "Title").
fn atx_heading(line: &str) -> Option<(usize, String)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    let rest = &line[level..];
    if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let title = inline_to_text(rest.trim().trim_end_matches('#').trim());
    Some((level, title))
}

/// `|---|:--:|` separates a table header from its rows.
fn is_table_rule(line: &str) -> bool {
    line.starts_with('|') && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// `---`, `***` or `___` (spaces allowed): a horizontal rule.
fn is_thematic_break(line: &str) -> bool {
    let marks: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    marks.len() >= 3
        && ["-", "*", "_"]
            .iter()
            .any(|m| marks.chars().all(|c| c.to_string() == *m))
}

/// One Markdown line as plain text: block markers (quote, list, table) removed. A list item or
/// table row becomes its own sentence so that items are not run together when spoken.
fn markdown_line_to_text(line: &str) -> String {
    let mut l = line;
    while let Some(rest) = l.strip_prefix('>') {
        l = rest.trim_start();
    }
    let mut item = false;
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = l.strip_prefix(marker) {
            l = rest;
            item = true;
        }
    }
    let digits = l.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && (l[digits..].starts_with(". ") || l[digits..].starts_with(") ")) {
        l = &l[digits + 2..];
        item = true;
    }
    let mut text = if l.starts_with('|') {
        item = true;
        l.trim_matches('|')
            .split('|')
            .map(|cell| inline_to_text(cell.trim()))
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        inline_to_text(l)
    };
    if item && !text.is_empty() && !text.ends_with(['.', '!', '?', ':']) {
        text.push('.');
    }
    text
}

/// Inline Markdown to plain text: links keep their text, images and HTML tags go, emphasis and
/// code markers go.
fn inline_to_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let image = c == '!' && chars.get(i + 1) == Some(&'[');
        if c == '[' || image {
            let open = if image { i + 1 } else { i };
            if let Some(close) = find(&chars, open + 1, ']') {
                let label: String = chars[open + 1..close].iter().collect();
                let mut next = close + 1;
                if chars.get(next) == Some(&'(') {
                    next = find(&chars, next + 1, ')').map_or(chars.len(), |p| p + 1);
                }
                if !image {
                    out.push_str(&label);
                }
                i = next;
                continue;
            }
        }
        if c == '<' {
            if let Some(close) = find(&chars, i + 1, '>') {
                i = close + 1;
                continue;
            }
        }
        // `_` only as emphasis at word edges, so snake_case words survive.
        let emphasis_underscore = c == '_'
            && (i == 0
                || i + 1 == chars.len()
                || !chars[i - 1].is_alphanumeric()
                || !chars[i + 1].is_alphanumeric());
        if !matches!(c, '*' | '`') && !emphasis_underscore {
            out.push(c);
        }
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn find(chars: &[char], from: usize, target: char) -> Option<usize> {
    chars
        .get(from..)?
        .iter()
        .position(|&c| c == target)
        .map(|p| p + from)
}

/// Sentences of a plain-text passage. A period ends a sentence only before a capital letter,
/// digit or quote, and not after a common abbreviation or a single letter ("e.g.", "U.S.").
pub(super) fn split_sentences(text: &str) -> Vec<String> {
    const ABBREVIATIONS: &[&str] = &[
        "e.g.", "i.e.", "etc.", "mr.", "mrs.", "ms.", "dr.", "vs.", "no.",
    ];
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        current.push(w);
        let ends = w.ends_with(['.', '!', '?']) || w.ends_with(".\"") || w.ends_with(".)");
        let lower = w.to_lowercase();
        let abbreviation = ABBREVIATIONS.contains(&lower.as_str())
            || (w.len() == 2 && w.ends_with('.') && w.starts_with(char::is_alphabetic));
        let next_starts = words.get(i + 1).is_none_or(|n| {
            n.starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit() || c == '"')
        });
        if ends && !abbreviation && next_starts {
            out.push(current.join(" "));
            current.clear();
        }
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    // "Yes." alone answers nothing and embeds as noise: it belongs with what follows.
    let mut merged: Vec<String> = Vec::with_capacity(out.len());
    let mut pending = String::new();
    for sentence in out {
        let sentence = if pending.is_empty() {
            sentence
        } else {
            format!("{} {sentence}", std::mem::take(&mut pending))
        };
        if word_count(&sentence) < MIN_SENTENCE_WORDS {
            pending = sentence;
        } else {
            merged.push(sentence);
        }
    }
    match merged.last_mut() {
        Some(last) if !pending.is_empty() => {
            last.push(' ');
            last.push_str(&pending);
        }
        None if !pending.is_empty() => merged.push(pending),
        _ => {}
    }
    merged
}

/// Text a voice can say: symbols spelled or dropped, whitespace tidied, a final period.
pub(super) fn speakable(text: &str) -> String {
    let mut s = text
        .replace(" > ", ", ")
        .replace('&', " and ")
        .replace('%', " percent")
        .replace("e.g.", "for example")
        .replace("i.e.", "that is")
        .replace("https://", "")
        .replace("http://", "");
    s.retain(|c| {
        !matches!(
            c,
            '#' | '*' | '`' | '|' | '<' | '>' | '_' | '[' | ']' | '{' | '}'
        )
    });
    let mut s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if !s.is_empty() && !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

/// `text` cut to at most `max` words: at the last clause boundary (comma, semicolon, colon,
/// dash) when one leaves at least a third of the words, else at `max` words.
pub(super) fn shorten(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max {
        return text.to_owned();
    }
    let head = &words[..max];
    let cut = head
        .iter()
        .rposition(|w| w.ends_with([',', ';', ':']) || *w == "-" || *w == "–")
        .filter(|&p| p + 1 >= max / 3)
        .map_or(max, |p| p + 1);
    let mut s = head[..cut].join(" ");
    s = s
        .trim_end_matches([',', ';', ':', '-', '–', ' '])
        .to_owned();
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str =
        "---\ntitle: x\n---\n# Help\n\nIntro line.\n\n## Billing\n\n### Can I cancel?\n\n\
Yes. You can cancel from **Settings > Billing** at [any time](https://x.y/z).\n\n\
```\ncode --not-spoken\n```\n\n- Visa\n- PayPal\n\n| Plan | Price |\n|---|---|\n| Basic | 19 |\n\n\
Setext title\n------------\n\nBody text here.\n";

    #[test]
    fn markdown_is_chunked_under_its_heading_path_without_markup() {
        let chunks = chunk_document(DOC, true);
        let paths: Vec<String> = chunks.iter().map(|(p, _)| p.join(" > ")).collect();
        assert_eq!(
            paths,
            // A `---` underline makes a level-2 heading, under the level-1 "Help".
            [
                "Help",
                "Help > Billing > Can I cancel?",
                "Help > Setext title"
            ]
        );
        let cancel = &chunks[1].1;
        assert!(cancel.starts_with("Yes. You can cancel from Settings > Billing at any time."));
        assert!(
            cancel.contains("Visa. PayPal. Plan, Price. Basic, 19."),
            "{cancel}"
        );
        assert!(
            !cancel.contains("code") && !cancel.contains("https") && !cancel.contains("title: x")
        );
    }

    #[test]
    fn short_paragraphs_merge_and_long_ones_split_within_word_limits() {
        let short = "One two three four five six seven eight nine ten.";
        let text = format!("{short}\n\n{short}\n\n{short}\n\n{short}\n\n{short}");
        let chunks = chunk_document(&text, false);
        assert_eq!(chunks.len(), 2, "40 words, then the rest");
        assert_eq!(word_count(&chunks[0].1), 40);

        let sentence = "word ".repeat(29) + "end.";
        let long = format!("{} ", sentence).repeat(9); // 270 words in one paragraph
        let chunks = chunk_document(&long, false);
        assert!(chunks.len() >= 3);
        assert!(chunks.iter().all(|(_, c)| word_count(c) <= MAX_WORDS));
        assert_eq!(
            chunks.iter().map(|(_, c)| word_count(c)).sum::<usize>(),
            270
        );
    }

    #[test]
    fn sentences_split_at_periods_but_not_abbreviations_and_tiny_ones_merge() {
        assert_eq!(
            split_sentences(
                "Yes. We take cards, e.g. Visa and more. See Dr. Who. Done now, thanks."
            ),
            [
                "Yes. We take cards, e.g. Visa and more.",
                "See Dr. Who. Done now, thanks."
            ]
        );
        assert_eq!(split_sentences("Only."), ["Only."]);
    }

    #[test]
    fn answers_are_speakable_and_shortened_at_a_clause() {
        assert_eq!(
            speakable("Go to *Settings > Billing* & save 10%"),
            "Go to Settings, Billing and save 10 percent."
        );
        let long = format!("{}, {}", "a ".repeat(20).trim(), "b ".repeat(30).trim());
        let short = shorten(&long, 40);
        assert_eq!(word_count(&short), 20);
        assert!(short.ends_with("a."), "{short}");
        let no_clause = "w ".repeat(50);
        assert_eq!(word_count(&shorten(no_clause.trim(), 40)), 40);
    }
}

//! Errors of the brain crate. Agent files are written by hand, so every error says which file,
//! where in it (when known) and what is wrong, in one line a person can act on.

use std::path::PathBuf;

/// Why an agent definition, a model or a knowledge base could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum BrainError {
    /// The agent file could not be read.
    #[error("cannot read agent file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or does not have the shape of an agent (wrong type, unknown
    /// key, missing key, bad template syntax). `line`/`column` are 1-based.
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Same as [`BrainError::Syntax`] when the parser could not tell where the problem is.
    #[error("{origin}: {message}")]
    Shape { origin: String, message: String },
    /// The file parses but does not make sense as an agent (no intents, duplicate names,
    /// a template variable that cannot be filled where it is used …).
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    /// The sentence-embedding model could not be installed, loaded or run.
    #[error("embedding model: {0}")]
    Embedding(String),
    /// A knowledge-base document or an embedding cache could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BrainError {
    /// Converts a TOML error into a located [`BrainError`] for the document `source`.
    pub(crate) fn from_toml(origin: &str, source: &str, err: &toml::de::Error) -> BrainError {
        // toml's `message()` is the bare sentence; its Display adds a multi-line snippet that
        // does not fit a one-line error, so locate the span ourselves.
        let message = err.message().trim().to_owned();
        match err.span() {
            Some(span) => {
                let (line, column) = line_column(source, span.start);
                BrainError::Syntax {
                    origin: origin.to_owned(),
                    line,
                    column,
                    message,
                }
            }
            None => BrainError::Shape {
                origin: origin.to_owned(),
                message,
            },
        }
    }

    pub(crate) fn invalid(origin: &str, message: impl Into<String>) -> BrainError {
        BrainError::Invalid {
            origin: origin.to_owned(),
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // Spans always fall on char boundaries, but be safe against a foreign offset.
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn line_column_counts_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, 9), (2, 3));
    }
}

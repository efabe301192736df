//! Which CSV column feeds which contact field. CRM exports name the same thing many ways
//! ("Phone No.", "phone_number", "Mobile"), so headers are compared with case, spaces and
//! punctuation removed, against a list of aliases; callers can override any column.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A contact field a CSV column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The full name ("Ava Thompson"); split into first and last name for the store.
    Name,
    FirstName,
    LastName,
    Phone,
    /// Lead status: Hot, Warm or Cold.
    Status,
    Email,
    Company,
    /// IANA time zone ("America/New_York").
    Timezone,
    /// Kept as an extra field under its header, even if its header looks like a known field.
    Extra,
    /// Dropped.
    Ignore,
}

/// Header aliases, already normalised by [`normalize_header`].
const ALIASES: &[(Field, &[&str])] = &[
    (Field::Name, &["name", "fullname", "contact", "contactname"]),
    (Field::FirstName, &["firstname", "givenname", "first"]),
    (
        Field::LastName,
        &["lastname", "surname", "familyname", "last"],
    ),
    (
        Field::Phone,
        &[
            "phone",
            "phoneno",
            "phonenumber",
            "mobile",
            "mobilephone",
            "mobilenumber",
            "tel",
            "telephone",
        ],
    ),
    (
        Field::Status,
        &["status", "leadstatus", "temperature", "rating"],
    ),
    (Field::Email, &["email", "emailaddress", "mail"]),
    (
        Field::Company,
        &[
            "company",
            "account",
            "accountname",
            "organization",
            "organisation",
        ],
    ),
    (Field::Timezone, &["timezone", "tz"]),
];

impl Field {
    /// A human name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Phone => "phone",
            Field::Status => "status",
            Field::Email => "email",
            Field::Company => "company",
            Field::Timezone => "timezone",
            Field::Extra => "extra",
            Field::Ignore => "ignore",
        }
    }
}

/// Parses the names used in `--map COLUMN=FIELD` style options; aliases work too
/// ("phone number" → [`Field::Phone`]).
impl FromStr for Field {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = normalize_header(s);
        match key.as_str() {
            "extra" | "field" | "keep" => return Ok(Field::Extra),
            "ignore" | "skip" | "drop" => return Ok(Field::Ignore),
            _ => {}
        }
        alias_field(&key).ok_or_else(|| {
            format!(
                "unknown contact field {s:?} (expected name, first_name, last_name, phone, status, \
                 email, company, timezone, extra or ignore)"
            )
        })
    }
}

/// Lowercase letters and digits only: "Phone No." → "phoneno", "Time-Zone" → "timezone".
pub(crate) fn normalize_header(h: &str) -> String {
    h.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn alias_field(normalized: &str) -> Option<Field> {
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&normalized))
        .map(|(f, _)| *f)
}

/// How each column of one file is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnMap {
    /// For each column, by index: the field it feeds, with its header (trimmed) for extras.
    pub columns: Vec<(Field, String)>,
}

impl ColumnMap {
    /// Maps `headers`: overrides first (matched with the same normalisation), then aliases. When
    /// two columns alias the same field the first one wins and the others are kept as extras, so
    /// a "Phone" and a "Mobile" column never silently overwrite each other.
    pub fn new(headers: &[String], overrides: &[(String, Field)]) -> Result<ColumnMap, String> {
        for (col, _) in overrides {
            let key = normalize_header(col);
            if !headers.iter().any(|h| normalize_header(h) == key) {
                return Err(format!(
                    "mapping names column {col:?}, which the file does not have"
                ));
            }
        }
        // Fields claimed by an override are not also given to a column by alias.
        let mut taken: Vec<Field> = overrides.iter().map(|(_, f)| *f).collect();
        let mut columns = Vec::with_capacity(headers.len());
        for h in headers {
            let key = normalize_header(h);
            let overridden = overrides
                .iter()
                .find(|(col, _)| normalize_header(col) == key)
                .map(|(_, f)| *f);
            let field = match (overridden, alias_field(&key)) {
                (Some(f), _) => f,
                (None, Some(f)) if !taken.contains(&f) => {
                    taken.push(f);
                    f
                }
                (None, _) => Field::Extra,
            };
            columns.push((field, h.trim().to_owned()));
        }
        Ok(ColumnMap { columns })
    }

    /// Whether some column feeds `field`.
    pub fn has(&self, field: Field) -> bool {
        self.columns.iter().any(|(f, _)| *f == field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(headers: &[&str], overrides: &[(&str, Field)]) -> Vec<Field> {
        let headers: Vec<String> = headers.iter().map(|s| s.to_string()).collect();
        let overrides: Vec<(String, Field)> =
            overrides.iter().map(|(c, f)| (c.to_string(), *f)).collect();
        ColumnMap::new(&headers, &overrides)
            .unwrap()
            .columns
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn headers_match_aliases_ignoring_case_spaces_and_punctuation() {
        assert_eq!(
            map(
                &[
                    "Contact Name",
                    "PHONE_NUMBER",
                    "Lead-Status",
                    "E-mail",
                    "Time Zone",
                    "Notes"
                ],
                &[]
            ),
            [
                Field::Name,
                Field::Phone,
                Field::Status,
                Field::Email,
                Field::Timezone,
                Field::Extra
            ]
        );
    }

    #[test]
    fn second_column_for_the_same_field_is_kept_as_extra() {
        assert_eq!(map(&["Phone", "Mobile"], &[]), [Field::Phone, Field::Extra]);
    }

    #[test]
    fn overrides_win_over_aliases() {
        assert_eq!(
            map(&["Phone", "Mobile"], &[("mobile", Field::Phone)]),
            [Field::Extra, Field::Phone]
        );
    }

    #[test]
    fn override_of_a_missing_column_is_an_error() {
        let err = ColumnMap::new(&["Phone".into()], &[("Cell".into(), Field::Phone)]).unwrap_err();
        assert!(err.contains("Cell"), "{err}");
    }

    #[test]
    fn field_names_parse_from_text() {
        assert_eq!("phone number".parse::<Field>().unwrap(), Field::Phone);
        assert_eq!("first_name".parse::<Field>().unwrap(), Field::FirstName);
        assert_eq!("ignore".parse::<Field>().unwrap(), Field::Ignore);
        assert!("shoe size".parse::<Field>().is_err());
    }
}

//! CRM CSV import: one pass that maps columns, normalises phone numbers to E.164, checks lead
//! statuses and time zones, and drops duplicates, reporting every row it did not import with its
//! physical line number (header = line 1) so a person can fix the file.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use store::{NewContact, Store};

use crate::columns::{ColumnMap, Field};
use crate::error::ImportError;
use crate::phone::{is_known_region, normalize_phone};
use crate::text::{decode, sniff_delimiter};

/// How to read a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// ISO 3166 region national numbers (no "+") belong to, e.g. "US", "GB".
    pub default_region: String,
    /// Column → field overrides, applied before the header aliases.
    #[serde(default)]
    pub mapping: Vec<(String, Field)>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            default_region: "US".into(),
            mapping: Vec::new(),
        }
    }
}

/// A contact's lead temperature; it decides the dialing order (Hot first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LeadStatus {
    Hot,
    Warm,
    Cold,
}

impl LeadStatus {
    /// The name stored in `contacts.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::Hot => "Hot",
            LeadStatus::Warm => "Warm",
            LeadStatus::Cold => "Cold",
        }
    }
}

/// Case-insensitive: "hot", "HOT" and "Hot" are all [`LeadStatus::Hot`].
impl FromStr for LeadStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hot" => Ok(LeadStatus::Hot),
            "warm" => Ok(LeadStatus::Warm),
            "cold" => Ok(LeadStatus::Cold),
            _ => Err(format!(
                "unknown status {:?} (expected Hot, Warm or Cold)",
                s.trim()
            )),
        }
    }
}

/// A row that becomes (or, in a dry run, would become) a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportedContact {
    pub line: usize,
    /// E.164.
    pub phone: String,
    pub name: Option<String>,
    pub status: LeadStatus,
    /// Problems that did not stop the import, e.g. an unknown time zone (then left empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The stored contact's id, once [`import_contacts`] has written it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<i64>,
    /// What is written to the store.
    #[serde(skip)]
    pub contact: NewContact,
}

/// A row skipped because its number was already imported from an earlier line (`of_line`) or,
/// for [`import_contacts`], is already in the store (`of_line` is `None`, `contact_id` says which).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    pub line: usize,
    pub of_line: Option<usize>,
    pub phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<i64>,
}

/// A row that could not be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

/// Everything an import did, row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub imported: Vec<ImportedContact>,
    pub duplicates: Vec<Duplicate>,
    pub rejected: Vec<Rejected>,
}

impl ImportReport {
    /// Ids of every stored contact the file named: the ones imported and the ones that were
    /// already in the store. This is the list to put into a campaign.
    pub fn contact_ids(&self) -> Vec<i64> {
        self.imported
            .iter()
            .filter_map(|c| c.contact_id)
            .chain(self.duplicates.iter().filter_map(|d| d.contact_id))
            .collect()
    }
}

/// Reads a CSV file without touching any store. Fails only when the file as a whole cannot be
/// used (no header, no phone column, a mapping naming a missing column, unknown region); problems
/// with single rows land in the report.
pub fn parse_contacts(bytes: &[u8], opts: &ImportOptions) -> Result<ImportReport, ImportError> {
    if !is_known_region(&opts.default_region) {
        return Err(ImportError::UnknownRegion(opts.default_region.clone()));
    }
    let text = decode(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(&text))
        .from_reader(text.as_bytes());

    // csv's own line counter skips blank lines; people read physical lines, so count those
    // from each record's byte offset. That offset is where csv started reading, before the
    // empty lines it skipped, so step over line ends first.
    let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let line_at = |byte: u64| {
        let start = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
        let skipped = text[start..]
            .bytes()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        newlines.partition_point(|&nl| nl < start + skipped) + 1
    };

    let mut report = ImportReport::default();
    let mut columns: Option<ColumnMap> = None;
    let mut seen: HashMap<String, usize> = HashMap::new();

    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(p.byte()));
                report.rejected.push(Rejected {
                    line,
                    reason: format!("unreadable CSV row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        // Lines of only spaces or only delimiters are as blank as empty ones.
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let Some(map) = &columns else {
            let headers: Vec<String> = record.iter().map(str::to_owned).collect();
            let map = ColumnMap::new(&headers, &opts.mapping).map_err(ImportError::Mapping)?;
            if !map.has(Field::Phone) {
                return Err(ImportError::NoPhoneColumn { headers });
            }
            columns = Some(map);
            continue;
        };
        match read_row(map, &record, opts) {
            Err(reason) => report.rejected.push(Rejected { line, reason }),
            Ok(mut contact) => {
                contact.line = line;
                if let Some(&of_line) = seen.get(&contact.phone) {
                    report.duplicates.push(Duplicate {
                        line,
                        of_line: Some(of_line),
                        phone: contact.phone,
                        contact_id: None,
                    });
                } else {
                    seen.insert(contact.phone.clone(), line);
                    report.imported.push(contact);
                }
            }
        }
    }
    if columns.is_none() {
        return Err(ImportError::NoHeader);
    }
    Ok(report)
}

/// Reads and stores contacts. Numbers already in the store are reported as duplicates (with the
/// stored contact's id) and left unchanged. A dry run reports exactly what a real run would,
/// writing nothing.
pub async fn import_contacts(
    store: &Store,
    bytes: &[u8],
    opts: &ImportOptions,
    dry_run: bool,
) -> Result<ImportReport, ImportError> {
    let parsed = parse_contacts(bytes, opts)?;
    let mut report = ImportReport {
        imported: Vec::with_capacity(parsed.imported.len()),
        duplicates: parsed.duplicates,
        rejected: parsed.rejected,
    };
    for mut c in parsed.imported {
        if let Some(existing) = store.contact_by_phone(&c.phone).await? {
            report.duplicates.push(Duplicate {
                line: c.line,
                of_line: None,
                phone: c.phone,
                contact_id: Some(existing.id),
            });
            continue;
        }
        if !dry_run {
            c.contact_id = Some(store.upsert_contact(&c.contact).await?);
        }
        report.imported.push(c);
    }
    report.duplicates.sort_by_key(|d| d.line);
    Ok(report)
}

/// One data row → a contact, or the reason it cannot be one.
fn read_row(
    map: &ColumnMap,
    record: &csv::StringRecord,
    opts: &ImportOptions,
) -> Result<ImportedContact, String> {
    if record.len() > map.columns.len()
        && record
            .iter()
            .skip(map.columns.len())
            .any(|f| !f.trim().is_empty())
    {
        return Err(format!(
            "row has {} fields but the header has {} columns",
            record.len(),
            map.columns.len()
        ));
    }
    let mut values: HashMap<Field, &str> = HashMap::new();
    let mut fields = BTreeMap::new();
    for ((field, header), value) in map.columns.iter().zip(record.iter()) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match field {
            Field::Ignore => {}
            Field::Extra => {
                fields.insert(header.clone(), value.to_owned());
            }
            f => {
                values.insert(*f, value);
            }
        }
    }

    let raw_phone = values.get(&Field::Phone).ok_or("missing phone number")?;
    let phone = normalize_phone(raw_phone, &opts.default_region).map_err(|e| e.to_string())?;
    // An empty status is the coolest lead; only a value we cannot read is an error.
    let status = match values.get(&Field::Status) {
        Some(s) => s.parse::<LeadStatus>()?,
        None => LeadStatus::Cold,
    };

    let mut warnings = Vec::new();
    let timezone = values
        .get(&Field::Timezone)
        .and_then(|tz| match tz.parse::<chrono_tz::Tz>() {
            Ok(parsed) => Some(parsed.name().to_owned()),
            Err(_) => {
                warnings.push(format!(
                    "unknown time zone {tz:?}: left empty, calls use the campaign's default"
                ));
                None
            }
        });

    let full_name = values.get(&Field::Name).map(|s| s.to_string());
    let (first_name, last_name) =
        match (values.get(&Field::FirstName), values.get(&Field::LastName)) {
            (None, None) => split_name(full_name.as_deref()),
            (f, l) => (f.map(|s| s.to_string()), l.map(|s| s.to_string())),
        };
    let name = full_name.or_else(|| {
        let joined = [first_name.as_deref(), last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    });

    let contact = NewContact {
        phone: phone.clone(),
        first_name,
        last_name,
        company: values.get(&Field::Company).map(|s| s.to_string()),
        email: values.get(&Field::Email).map(|s| s.to_string()),
        status: Some(status.as_str().to_owned()),
        timezone,
        fields,
    };
    Ok(ImportedContact {
        line: 0,
        phone,
        name,
        status,
        warnings,
        contact_id: None,
        contact,
    })
}

/// "Chloé Dubois, PhD" → ("Chloé", "Dubois, PhD"): the first word is the given name, the rest
/// stays together so nothing of the original is lost (first + " " + last gives it back).
fn split_name(name: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(name) = name else {
        return (None, None);
    };
    match name.split_once(char::is_whitespace) {
        Some((first, rest)) => (Some(first.to_owned()), Some(rest.trim().to_owned())),
        None => (Some(name.to_owned()), None),
    }
}

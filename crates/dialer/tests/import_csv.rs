//! Importing CRM CSV files: the shared sample file and the shapes customers hand over.

use dialer::{import_contacts, parse_contacts, Field, ImportError, ImportOptions, LeadStatus};
use store::Store;

const CRM: &[u8] = include_bytes!("data/crm_contacts.csv");

fn parse(bytes: &[u8]) -> dialer::ImportReport {
    parse_contacts(bytes, &ImportOptions::default()).expect("file parses")
}

#[test]
fn crm_sample_imports_seven_and_reports_duplicate_and_rejects_by_line() {
    let report = parse(CRM);
    let lines: Vec<usize> = report.imported.iter().map(|c| c.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 10, 11]);

    assert_eq!(report.duplicates.len(), 1);
    let dup = &report.duplicates[0];
    assert_eq!((dup.line, dup.of_line), (7, Some(2)));
    assert_eq!(dup.phone, "+14155550101");

    let rejected: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(rejected, [8, 9]);
    assert!(
        report.rejected[0]
            .reason
            .contains("invalid phone number \"not-a-number\""),
        "{}",
        report.rejected[0].reason
    );
    assert_eq!(
        report.rejected[1].reason,
        "unknown status \"Lukewarm\" (expected Hot, Warm or Cold)"
    );
}

#[test]
fn crm_sample_national_number_becomes_e164_and_statuses_are_case_insensitive() {
    let report = parse(CRM);
    let noah = report.imported.iter().find(|c| c.line == 5).unwrap();
    assert_eq!(noah.phone, "+14155550104");
    assert_eq!(noah.status, LeadStatus::Hot);
    assert_eq!(noah.contact.status.as_deref(), Some("Hot"));
}

#[test]
fn quoted_name_with_comma_and_accent_is_kept_intact() {
    let report = parse(CRM);
    let chloe = report.imported.iter().find(|c| c.line == 10).unwrap();
    assert_eq!(chloe.name.as_deref(), Some("Chloé Dubois, PhD"));
    assert_eq!(chloe.phone, "+33142680109");
    assert_eq!(chloe.contact.first_name.as_deref(), Some("Chloé"));
    assert_eq!(chloe.contact.last_name.as_deref(), Some("Dubois, PhD"));
    assert_eq!(chloe.contact.company.as_deref(), Some("Dubois & Fils"));
    assert_eq!(chloe.contact.timezone.as_deref(), Some("Europe/Paris"));
    assert_eq!(
        chloe.contact.fields.get("Notes").map(String::as_str),
        Some("Quoted name with comma, accent and ampersand")
    );
}

#[test]
fn report_serializes_to_imported_duplicates_rejected() {
    let json = serde_json::to_value(parse(CRM)).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(
        json["duplicates"][0],
        serde_json::json!({"line": 7, "of_line": 2, "phone": "+14155550101"})
    );
    assert_eq!(json["rejected"][1]["line"], 9);
    assert!(json["rejected"][1]["reason"].is_string());
    assert_eq!(
        json["imported"][0],
        serde_json::json!({"line": 2, "phone": "+14155550101", "name": "Ava Thompson", "status": "Hot"})
    );
}

#[test]
fn semicolon_file_with_bom_and_crlf_imports() {
    let file = "\u{feff}Name;Phone;Status\r\nAva;+14155550101;warm\r\nLiam;(212) 555-0102;\r\n";
    let report = parse(file.as_bytes());
    assert_eq!(report.imported.len(), 2);
    assert_eq!(report.imported[0].status, LeadStatus::Warm);
    // An empty status is the coolest lead, not an error.
    assert_eq!(report.imported[1].status, LeadStatus::Cold);
    assert_eq!(report.imported[1].phone, "+12125550102");
}

#[test]
fn tab_separated_file_with_alias_headers_imports() {
    let file = "Contact Name\tMobile\tLead Status\tOrganization\tTZ\n\
                Ava Thompson\t415 555 0101\tHOT\tNorthwind\tAmerica/Los_Angeles\n";
    let report = parse(file.as_bytes());
    let c = &report.imported[0];
    assert_eq!(c.phone, "+14155550101");
    assert_eq!(c.status, LeadStatus::Hot);
    assert_eq!(c.contact.company.as_deref(), Some("Northwind"));
    assert_eq!(c.contact.timezone.as_deref(), Some("America/Los_Angeles"));
    assert!(c.contact.fields.is_empty());
}

#[test]
fn blank_lines_are_skipped_but_still_counted() {
    let file = "Name,Phone,Status\n\nAva,+14155550101,Hot\n   \n,,\nLiam,bad,Hot\n";
    let report = parse(file.as_bytes());
    assert_eq!(report.imported[0].line, 3);
    assert_eq!(report.rejected[0].line, 6);
}

#[test]
fn quoted_field_with_newline_keeps_following_line_numbers_physical() {
    let file = "Name,Phone,Notes\nAva,+14155550101,\"two\nlines\"\nLiam,+12125550102,\n";
    let report = parse(file.as_bytes());
    assert_eq!(report.imported[0].contact.fields["Notes"], "two\nlines");
    assert_eq!(report.imported[1].line, 4);
}

#[test]
fn first_and_last_name_columns_make_the_name() {
    let file = "First Name,Last Name,Tel\nAva,Thompson,+14155550101\n";
    let c = &parse(file.as_bytes()).imported[0];
    assert_eq!(c.name.as_deref(), Some("Ava Thompson"));
    assert_eq!(c.contact.last_name.as_deref(), Some("Thompson"));
}

#[test]
fn unknown_time_zone_keeps_contact_with_a_warning() {
    let file = "Name,Phone,Timezone\nAva,+14155550101,Mars/Olympus\n";
    let c = &parse(file.as_bytes()).imported[0];
    assert_eq!(c.contact.timezone, None);
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].contains("Mars/Olympus"));
}

#[test]
fn mapping_override_picks_the_phone_column() {
    let file = "Name,Office,Cell\nAva,+12125550199,+14155550101\n";
    let opts = ImportOptions {
        mapping: vec![("cell".into(), Field::Phone)],
        ..ImportOptions::default()
    };
    let report = parse_contacts(file.as_bytes(), &opts).unwrap();
    assert_eq!(report.imported[0].phone, "+14155550101");
    assert_eq!(report.imported[0].contact.fields["Office"], "+12125550199");
}

#[test]
fn gb_default_region_reads_national_numbers() {
    let file = "Name,Phone\nEmma,020 7946 0105\n";
    let opts = ImportOptions {
        default_region: "GB".into(),
        ..ImportOptions::default()
    };
    let report = parse_contacts(file.as_bytes(), &opts).unwrap();
    assert_eq!(report.imported[0].phone, "+442079460105");
}

#[test]
fn file_without_phone_column_is_an_error() {
    let err = parse_contacts(b"Name,Email\nAva,a@b.c\n", &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::NoPhoneColumn { .. }), "{err}");
    let err = parse_contacts(b"\n\n", &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::NoHeader), "{err}");
}

#[tokio::test]
async fn import_stores_contacts_and_second_import_reports_them_as_existing() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let first = import_contacts(&store, CRM, &ImportOptions::default(), false)
        .await
        .unwrap();
    assert_eq!(first.imported.len(), 7);
    assert_eq!(first.contact_ids().len(), 7);
    let chloe = store
        .contact_by_phone("+33142680109")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(chloe.first_name.as_deref(), Some("Chloé"));
    assert_eq!(chloe.status.as_deref(), Some("Hot"));

    let second = import_contacts(&store, CRM, &ImportOptions::default(), false)
        .await
        .unwrap();
    assert!(second.imported.is_empty());
    // Seven already stored (no earlier line) plus line 7, a duplicate within the file.
    assert_eq!(second.duplicates.len(), 8);
    assert_eq!(second.contact_ids().len(), 7);
    let line2 = second.duplicates.iter().find(|d| d.line == 2).unwrap();
    assert_eq!(line2.of_line, None);
}

#[tokio::test]
async fn dry_run_reports_without_writing() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let report = import_contacts(&store, CRM, &ImportOptions::default(), true)
        .await
        .unwrap();
    assert_eq!(report.imported.len(), 7);
    assert!(report.imported.iter().all(|c| c.contact_id.is_none()));
    assert!(store
        .contact_by_phone("+14155550101")
        .await
        .unwrap()
        .is_none());
}

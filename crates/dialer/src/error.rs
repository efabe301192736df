//! Typed errors of the dialer: one enum per job (importing a file, running a campaign).

use store::StoreError;

/// Why a CSV file could not be imported at all (problems with single rows are in the report).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file has no non-blank line.
    #[error("the file is empty: expected a header line such as \"Name,Phone,Status\"")]
    NoHeader,
    /// No column could be read as the phone number.
    #[error(
        "no phone column among {headers:?}: name one Phone, Phone No., Phone Number, Mobile or Tel, \
         or map a column to phone"
    )]
    NoPhoneColumn { headers: Vec<String> },
    /// A column mapping override does not fit the file.
    #[error("{0}")]
    Mapping(String),
    /// The default region is not one the phone normaliser knows.
    #[error("unknown default region {0:?} (use an ISO country code such as US, CA or GB)")]
    UnknownRegion(String),
    /// Reading or writing contacts failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Campaign settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The stored JSON does not have the settings' shape.
    #[error("campaign settings are not valid: {0}")]
    Json(#[source] serde_json::Error),
    /// A value is out of range.
    #[error("campaign settings are not valid: {0}")]
    Invalid(String),
}

/// Why placing one call failed, as told by a [`crate::runner::PlaceCall`] implementation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The carrier answered and refused this call (invalid number, blocked destination …): the
    /// attempt counts, as a failed one.
    #[error("the carrier refused the call: {0}")]
    Rejected(String),
    /// The carrier could not be reached or was overloaded: nothing was dialed, the contact is
    /// put back and tried later without counting an attempt.
    #[error("the carrier is unavailable: {0}")]
    Unavailable(String),
}

/// Why a campaign runner stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The campaign does not exist.
    #[error("campaign {0} does not exist")]
    NoCampaign(i64),
    /// Its settings cannot be used.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

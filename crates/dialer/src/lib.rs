//! The outbound side of callpilot: importing CRM contacts and dialing campaigns.
//!
//! - [`import`]: CSV → contacts (E.164 numbers, lead status, duplicates and rejects reported by
//!   line).
//! - [`policy`]: pure rules — calling windows in each contact's time zone, retry delays, pacing.
//! - [`runner`]: the async loop that leases contacts from the store and places calls through a
//!   [`runner::PlaceCall`] implementation it knows nothing else about.

mod columns;
mod error;
pub mod import;
pub mod pacer;
pub mod phone;
pub mod policy;
pub mod runner;
pub mod single_call;
mod text;

pub use columns::Field;
pub use error::{DialError, ImportError, RunError, SettingsError};
pub use import::{
    import_contacts, parse_contacts, Duplicate, ImportOptions, ImportReport, ImportedContact,
    LeadStatus, Rejected,
};
pub use pacer::Pacer;
pub use policy::{
    next_step, retry_after, within_window, CallResult, CallingWindow, CampaignSettings, NextOpen,
    RetryDelays, VoicemailAction,
};
pub use runner::{
    record_call_result, Clock, ManualClock, PlaceCall, PlaceCallRequest, Runner, RunnerEvent, Step,
    SystemClock,
};
pub use single_call::{schedule_call, SingleCallError};

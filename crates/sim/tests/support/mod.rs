//! TEST-ONLY helpers: tone speech and a fake agent server.

pub mod fake_agent;
pub mod tone_speech;

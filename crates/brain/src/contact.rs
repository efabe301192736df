//! The CRM record a call is personalised with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Who the agent is talking to, as far as the CRM knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// E.164 phone number.
    pub phone: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    /// Lead status (Hot / Warm / Cold).
    pub status: Option<String>,
    /// Other CRM columns.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

impl Contact {
    /// "First Last", or whichever part is known.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// A short description for a language model's system prompt.
    pub fn describe(&self) -> String {
        let mut out = Vec::new();
        if let Some(n) = self.full_name() {
            out.push(format!("name: {n}"));
        }
        if let Some(c) = self.company.as_deref().filter(|c| !c.is_empty()) {
            out.push(format!("company: {c}"));
        }
        if let Some(s) = self.status.as_deref().filter(|s| !s.is_empty()) {
            out.push(format!("lead status: {s}"));
        }
        for (k, v) in &self.fields {
            if !v.is_empty() {
                out.push(format!("{k}: {v}"));
            }
        }
        out.join("; ")
    }
}

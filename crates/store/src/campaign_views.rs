//! Read-side views of a campaign: counts per state for progress bars, and the per-contact
//! report. Split from `campaigns.rs`, which holds the write path (leases and attempts).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::error::StoreError;
use crate::store::Store;

/// Counts of a campaign's contacts per state and per last result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CampaignProgress {
    pub total: i64,
    pub pending: i64,
    pub leased: i64,
    pub dialing: i64,
    pub done: i64,
    pub skipped: i64,
    pub failed: i64,
    /// Contacts per last result ("busy", "answered", "do_not_call" …).
    pub results: BTreeMap<String, i64>,
    /// When the earliest pending contact becomes due (ms), if any is pending.
    pub next_attempt_at: Option<i64>,
}

impl CampaignProgress {
    /// Nothing is left to dial or waiting for a result.
    pub fn is_finished(&self) -> bool {
        self.pending == 0 && self.leased == 0 && self.dialing == 0
    }
}

/// One line of a campaign report: a contact and how its calls went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignReportRow {
    pub contact_id: i64,
    pub name: Option<String>,
    pub phone: String,
    pub tier: i64,
    pub state: String,
    pub attempts: i64,
    pub last_result: Option<String>,
    /// The outcome the brain recorded on the latest call that has one.
    pub outcome: Option<String>,
}

impl Store {
    /// Counts of a campaign's contacts per state and last result.
    pub async fn campaign_progress(
        &self,
        campaign_id: i64,
    ) -> Result<CampaignProgress, StoreError> {
        let op = "campaign_progress";
        let rows: Vec<(String, Option<String>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT state, last_result, COUNT(*),
                    MIN(CASE WHEN state = 'pending' THEN next_attempt_at END)
             FROM campaign_contacts WHERE campaign_id = $1
             GROUP BY state, last_result",
        )
        .bind(campaign_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        let mut p = CampaignProgress::default();
        for (state, result, n, next) in rows {
            p.total += n;
            match state.as_str() {
                "pending" => p.pending += n,
                "leased" => p.leased += n,
                "dialing" => p.dialing += n,
                "done" => p.done += n,
                "skipped" => p.skipped += n,
                _ => p.failed += n,
            }
            if let Some(r) = result {
                *p.results.entry(r).or_default() += n;
            }
            if let Some(at) = next {
                p.next_attempt_at = Some(p.next_attempt_at.map_or(at, |cur| cur.min(at)));
            }
        }
        Ok(p)
    }

    /// One row per contact of a campaign, in dialing order.
    pub async fn campaign_report(
        &self,
        campaign_id: i64,
    ) -> Result<Vec<CampaignReportRow>, StoreError> {
        let op = "campaign_report";
        let rows = sqlx::query(
            "SELECT cc.contact_id, c.first_name, c.last_name, c.phone, cc.tier, cc.state,
                    cc.attempts, cc.last_result,
                    (SELECT calls.outcome FROM calls
                     JOIN call_attempts a ON a.id = calls.attempt_id
                     WHERE a.campaign_id = cc.campaign_id AND a.contact_id = cc.contact_id
                       AND calls.outcome IS NOT NULL
                     ORDER BY a.attempt_no DESC, a.id DESC LIMIT 1) AS outcome
             FROM campaign_contacts cc JOIN contacts c ON c.id = cc.contact_id
             WHERE cc.campaign_id = $1
             ORDER BY cc.tier, c.created_at, c.id",
        )
        .bind(campaign_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query(op))?;
        rows.iter()
            .map(|r| {
                let first: Option<String> = r.try_get("first_name")?;
                let last: Option<String> = r.try_get("last_name")?;
                let name = match (first, last) {
                    (Some(f), Some(l)) => Some(format!("{f} {l}")),
                    (f, l) => f.or(l),
                };
                Ok(CampaignReportRow {
                    contact_id: r.try_get("contact_id")?,
                    name,
                    phone: r.try_get("phone")?,
                    tier: r.try_get("tier")?,
                    state: r.try_get("state")?,
                    attempts: r.try_get("attempts")?,
                    last_result: r.try_get("last_result")?,
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query(op))
    }
}

//! Call recordings (when `CALLPILOT_RECORDINGS_DIR` is set): what the caller said and what the
//! agent played, on one timeline, mixed to a mono 8 kHz WAV per call. The file is named after
//! the call, noted in the call's events (`recording`), and served to signed-in users at
//! `GET /api/v1/calls/{sid}/recording`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use audio::Frame;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::{Auth, Role};
use crate::routes::{route, Access, RouteSpec};
use crate::AppState;

/// Longest recording kept per call (memory bound: 2 tracks × 8 kHz × 2 bytes × 2 h ≈ 230 MB is
/// too much; one hour is 115 MB worst case, and real calls are minutes).
const MAX_SECONDS: usize = 60 * 60;
const RATE: usize = audio::SAMPLE_RATE_8K as usize;

/// Both sides of one call, placed by when they happened.
pub(crate) struct CallRecording {
    started: Instant,
    caller: Vec<i16>,
    agent: Vec<i16>,
}

impl CallRecording {
    pub(crate) fn new(now: Instant) -> Self {
        CallRecording {
            started: now,
            caller: Vec::new(),
            agent: Vec::new(),
        }
    }

    fn place(track: &mut Vec<i16>, started: Instant, frame: &Frame, now: Instant) {
        let at = now.saturating_duration_since(started).as_millis() as usize * RATE / 1000;
        // Frames arrive in bursts (network jitter, agent audio sent slightly ahead): never
        // overlap what is already there, and fill gaps with silence.
        let pos = at.max(track.len());
        if pos + frame.samples().len() > MAX_SECONDS * RATE {
            return;
        }
        track.resize(pos, 0);
        track.extend_from_slice(frame.samples());
    }

    pub(crate) fn caller(&mut self, frame: &Frame, now: Instant) {
        Self::place(&mut self.caller, self.started, frame, now);
    }

    pub(crate) fn agent(&mut self, frame: &Frame, now: Instant) {
        Self::place(&mut self.agent, self.started, frame, now);
    }

    /// Mixes both tracks and writes `<dir>/<call_sid>.wav`; returns the file and its seconds.
    pub(crate) fn save(&self, dir: &Path, call_sid: &str) -> std::io::Result<(PathBuf, f64)> {
        let len = self.caller.len().max(self.agent.len());
        let mixed: Vec<i16> = (0..len)
            .map(|i| {
                let a = i32::from(self.caller.get(i).copied().unwrap_or(0));
                let b = i32::from(self.agent.get(i).copied().unwrap_or(0));
                (a + b).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
            })
            .collect();
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.wav", sanitize(call_sid)));
        let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        audio::wav::write_wav(file, &mixed, audio::SAMPLE_RATE_8K)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok((path, len as f64 / RATE as f64))
    }
}

/// Call SIDs are ours or Twilio's (`CA…`), but never trust a name used as a path.
fn sanitize(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

pub(crate) fn routes() -> Vec<RouteSpec> {
    vec![route(
        Method::GET,
        "/api/v1/calls/{sid}/recording",
        Access::User,
        get(serve),
    )]
}

/// `GET /api/v1/calls/{sid}/recording`: the WAV, for the dashboard's player.
async fn serve(
    State(state): State<AppState>,
    auth: Auth,
    UrlPath(sid): UrlPath<String>,
) -> Response {
    if let Err(e) = auth.require(Role::Viewer) {
        return e.into_response();
    }
    let Some(dir) = state.recordings_dir.as_deref() else {
        return (StatusCode::NOT_FOUND, "recording is off on this server").into_response();
    };
    let path = dir.join(format!("{}.wav", sanitize(&sid)));
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no recording for this call").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn both_sides_land_on_one_timeline() {
        let t0 = Instant::now();
        let mut r = CallRecording::new(t0);
        let loud = Frame::from_slice(&[1000; 160]);
        r.agent(&loud, t0);
        r.caller(&loud, t0 + Duration::from_millis(1000));
        let dir = std::env::temp_dir().join(format!("cp-rec-{}", std::process::id()));
        let (path, secs) = r.save(&dir, "CA/../x1").unwrap();
        assert_eq!(path.file_name().unwrap(), "CAx1.wav");
        assert!((secs - 1.02).abs() < 0.001, "{secs}");
        let (samples, rate) = audio::wav::read_wav(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(rate, 8000);
        assert_eq!(samples[0], 1000, "agent at 0 s");
        assert_eq!(samples[4000], 0, "silence between");
        assert_eq!(samples[8000], 1000, "caller at 1 s");
        let _ = std::fs::remove_dir_all(dir);
    }
}

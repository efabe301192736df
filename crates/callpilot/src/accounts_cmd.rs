//! `callpilot users …` and `callpilot api-keys …`: who may use the dashboard and the API.

use std::io::BufRead;

use anyhow::{bail, Context};
use server::Role;

use crate::cli::{ApiKeysAction, ApiKeysArgs, UsersAction, UsersArgs};

fn role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).with_context(|| format!("role {s:?}: expected admin, supervisor or viewer"))
}

pub async fn users(args: UsersArgs) -> anyhow::Result<()> {
    let store = store::Store::connect(&args.database_url)
        .await
        .with_context(|| format!("opening database {}", args.database_url))?;
    match args.action {
        UsersAction::Add {
            email,
            role: r,
            password_stdin,
        } => {
            let r = role(&r)?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                std::env::var("CALLPILOT_USER_PASSWORD").unwrap_or_default()
            };
            if password.chars().count() < 8 {
                bail!("give a password of at least 8 characters with --password-stdin (or CALLPILOT_USER_PASSWORD)");
            }
            let email = email.trim().to_lowercase();
            let hash = server::hash_password(&password).map_err(|e| anyhow::anyhow!(e))?;
            let id = store
                .add_user(&email, &hash, r.as_str())
                .await
                .with_context(|| format!("adding {email} (is the email already taken?)"))?;
            store
                .audit(
                    "cli",
                    "user.add",
                    Some(&format!("user:{email}")),
                    &serde_json::json!({"role": r.as_str()}),
                    None,
                )
                .await?;
            println!("user {id} {email} ({r}) added: sign in at /login");
        }
        UsersAction::List => {
            for u in store.list_users().await? {
                println!(
                    "{:>4}  {:32}  {:10}  {}",
                    u.id,
                    u.email,
                    u.role,
                    if u.disabled { "disabled" } else { "active" }
                );
            }
        }
    }
    Ok(())
}

pub async fn api_keys(args: ApiKeysArgs) -> anyhow::Result<()> {
    let store = store::Store::connect(&args.database_url)
        .await
        .with_context(|| format!("opening database {}", args.database_url))?;
    match args.action {
        ApiKeysAction::Create { name, role: r } => {
            let r = role(&r)?;
            let key = server::create_api_key(&store, &name, r, "cli").await?;
            store
                .audit(
                    "cli",
                    "api_key.create",
                    Some(&format!("key:{name}")),
                    &serde_json::json!({"role": r.as_str()}),
                    None,
                )
                .await?;
            println!("{key}");
            eprintln!("API key \"{name}\" ({r}) created. It is shown only now: store it safely. Send it as `Authorization: Bearer <key>`.");
        }
        ApiKeysAction::List => {
            for k in store.list_api_keys().await? {
                println!(
                    "{:>4}  {:24}  cpk_{}_…  {:10}  {}",
                    k.id,
                    k.name,
                    k.prefix,
                    k.role,
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        ApiKeysAction::Revoke { id } => {
            if !store.revoke_api_key(id).await? {
                bail!("no active API key {id}");
            }
            store
                .audit(
                    "cli",
                    "api_key.revoke",
                    Some(&format!("api_key:{id}")),
                    &serde_json::json!({}),
                    None,
                )
                .await?;
            println!("API key {id} revoked");
        }
    }
    Ok(())
}

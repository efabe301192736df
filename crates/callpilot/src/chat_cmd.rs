//! `callpilot chat`: the same brain as a phone call, by text, for fast iteration on an agent.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::Context;
use brain::llm_turn::{run_llm_turn, ToolEffect, TurnEvent};
use brain::{Brain, CallerInput, Contact, Decision, DialogueState, ReplyAction};

use crate::cli::ChatArgs;

pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let agent = Arc::new(
        brain::load(&args.agent).with_context(|| format!("loading {}", args.agent.display()))?,
    );
    let resources = crate::brain_setup::resources(&args.models_dir, args.llm, 2)?;
    let brain = Arc::new(Brain::with_resources(agent.clone(), resources)?);
    let contact = match &args.contact {
        Some(spec) => Some(parse_contact(spec, &args.database_url).await?),
        None => None,
    };
    let mut state = DialogueState::for_contact(contact.clone());
    let interactive = std::io::stdin().is_terminal();
    let name = agent.name.clone();
    println!("{name}: {}", brain.greeting_for(contact.as_ref()));
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("you: ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let text = line.context("reading stdin")?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if !interactive {
            println!("you: {text}");
        }
        let input = match text.strip_prefix("#dtmf ") {
            Some(d) => CallerInput::Dtmf(d.chars().next().unwrap_or('0')),
            None => CallerInput::Speech(text.to_owned()),
        };
        let ends = match brain.decide(&mut state, &input) {
            Decision::Reply(reply) => {
                let tag = reply
                    .intent
                    .as_deref()
                    .map(|i| format!(" [{i} {:.2}]", reply.confidence))
                    .unwrap_or_default();
                println!("{name}: {}{tag}", reply.text);
                if reply.do_not_call {
                    println!("  (number added to the do-not-call list)");
                }
                match reply.action {
                    ReplyAction::None => false,
                    ReplyAction::EndCall => true,
                    ReplyAction::Handoff => {
                        println!(
                            "  (handing off to {})",
                            agent
                                .handoff_target()
                                .unwrap_or("nobody: no handoff_number")
                        );
                        true
                    }
                    ReplyAction::Transfer { department, number } => {
                        println!("  (transferring to {department} at {number})");
                        true
                    }
                }
            }
            Decision::AskLlm { request, .. } => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                tokio::spawn(run_llm_turn(brain.clone(), request, contact.clone(), tx));
                print!("{name}: ");
                let mut ends = false;
                while let Some(ev) = rx.recv().await {
                    match ev {
                        TurnEvent::Text(t) => {
                            print!("{t}");
                            std::io::stdout().flush()?;
                        }
                        TurnEvent::Effect(e) => {
                            ends |= matches!(
                                e,
                                ToolEffect::EndCall
                                    | ToolEffect::Handoff { .. }
                                    | ToolEffect::Transfer { .. }
                            );
                            print!(" [tool: {e:?}]");
                        }
                        TurnEvent::Done { messages, .. } => {
                            state.extend_history(messages);
                            break;
                        }
                    }
                }
                println!();
                ends
            }
        };
        if ends {
            println!("(call ended)");
            break;
        }
    }
    Ok(())
}

async fn parse_contact(spec: &str, database_url: &str) -> anyhow::Result<Contact> {
    if spec.contains('=') {
        let mut c = Contact::default();
        for pair in spec.split(',') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            let v = v.trim().to_owned();
            match k.trim() {
                "first_name" => c.first_name = Some(v),
                "last_name" => c.last_name = Some(v),
                "company" => c.company = Some(v),
                "status" => c.status = Some(v),
                "phone" => c.phone = v,
                other => {
                    c.fields.insert(other.to_owned(), v);
                }
            }
        }
        return Ok(c);
    }
    let store = store::Store::connect(database_url).await?;
    let r = store
        .contact_by_phone(spec)
        .await?
        .with_context(|| format!("no contact with phone {spec} in {database_url}"))?;
    Ok(server::contact_from_record(r))
}

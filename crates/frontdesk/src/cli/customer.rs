//! `frontdesk customer`: the digital service menu in a terminal (seed step 3: the
//! menu shown as text). Interactive on a terminal; scriptable from a pipe.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use frontdesk_client::{ClientError, CustomerClient, Reply};
use frontdesk_protocol::Screen;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Args)]
pub struct CustomerArgs {
    /// The server, e.g. http://127.0.0.1:8080 (ws:// and https:// work too).
    #[arg(long, env = "FRONTDESK_URL", value_name = "URL")]
    url: String,
    /// Your phone number, in any common format (+44 7700 900123, (201) 555-0123).
    #[arg(long, value_name = "NUMBER")]
    phone: String,
}

/// One line of input, understood.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    Item(String),
    Back,
    Home,
    End,
    Help,
    Empty,
    Unknown(String),
}

fn parse_choice(line: &str, screen: &Screen) -> Choice {
    let word = line.trim();
    match word.to_ascii_lowercase().as_str() {
        "" => Choice::Empty,
        "back" | "b" => Choice::Back,
        "home" | "h" => Choice::Home,
        "end" | "quit" | "exit" | "q" => Choice::End,
        "help" | "?" => Choice::Help,
        _ => {
            if let Ok(n) = word.parse::<usize>() {
                return match n.checked_sub(1).and_then(|i| screen.items.get(i)) {
                    Some(entry) => Choice::Item(entry.id.clone()),
                    None => Choice::Unknown(format!("there is no item {n} on this screen")),
                };
            }
            if screen.items.iter().any(|e| e.id == word) {
                Choice::Item(word.to_owned())
            } else {
                Choice::Unknown(format!("'{word}' is not a choice here"))
            }
        }
    }
}

fn render_screen(screen: &Screen) -> String {
    let mut out = String::new();
    let crumbs: Vec<&str> = screen.path.iter().map(|c| c.title.as_str()).collect();
    if crumbs.len() > 1 {
        out += &format!("{}\n", crumbs.join(" › "));
    }
    out += &format!("== {} ==\n", screen.title);
    for (i, e) in screen.items.iter().enumerate() {
        let tag = match e.kind.as_str() {
            "submenu" => " ›",
            "voice" => "  [call]",
            "chat" => "  [chat]",
            "bot" => "  [ask]",
            _ => "",
        };
        out += &format!("  {}. {}{}\n", i + 1, e.title, tag);
    }
    let back = if screen.path.len() > 1 { "back, " } else { "" };
    out += &format!("Choose a number, or: {back}home, end\n");
    out
}

fn render_reply(reply: &Reply) -> String {
    let mut out = String::new();
    if let Some(c) = &reply.content {
        out += &format!("\n-- {} --\n{}\n", c.title, c.text.trim_end());
    }
    if let Some(n) = &reply.notice {
        out += &format!("\n(i) {}\n", n.message);
    }
    out += "\n";
    out += &render_screen(&reply.screen);
    out
}

pub async fn run(args: CustomerArgs) -> anyhow::Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    let mut client = match CustomerClient::start(&args.url, &args.phone).await {
        Ok(c) => c,
        Err(ClientError::Server { code, message }) => {
            eprintln!("error: {message} [{code}]");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(anyhow::anyhow!("cannot reach {}: {e}", args.url)),
    };
    println!(
        "Consultation {} (menu version {})",
        client.consultation, client.menu_version
    );
    print!("{}", render_screen(&client.screen));

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // The server closes connections that say nothing for a minute; a person
    // reading a long answer should not lose theirs.
    let mut heartbeat = tokio::time::interval(Duration::from_secs(20));
    heartbeat.tick().await;
    loop {
        if interactive {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
        let line = tokio::select! {
            line = lines.next_line() => line?,
            _ = heartbeat.tick() => {
                if let Err(e) = client.ping().await {
                    tracing::debug!(error = %e, "heartbeat failed; the next choice reconnects");
                }
                continue;
            }
        };
        let Some(line) = line else {
            println!("(input ended; the consultation stays open and can be resumed for a while)");
            return Ok(ExitCode::SUCCESS);
        };
        if !interactive {
            // Echo scripted input so the output reads as a transcript.
            println!("> {}", line.trim());
        }
        let result = match parse_choice(&line, &client.screen) {
            Choice::Empty => continue,
            Choice::Help => {
                println!("Type the number of an item (or its id), `back`, `home` or `end`.");
                continue;
            }
            Choice::Unknown(why) => {
                println!("! {why}");
                continue;
            }
            Choice::End => match client.end().await {
                Ok(items) => {
                    println!("Consultation ended; {items} item(s) recorded. Thank you!");
                    return Ok(ExitCode::SUCCESS);
                }
                Err(e) => Err(e),
            },
            Choice::Item(id) => client.select(&id).await,
            Choice::Back => client.back().await,
            Choice::Home => client.home().await,
        };
        match result {
            Ok(reply) => print!("{}", render_reply(&reply)),
            Err(ClientError::Server { code, message }) => println!("! {message} [{code}]"),
            Err(e) => return Err(anyhow::anyhow!("lost the server: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdesk_protocol::{Content, Crumb, Entry};

    fn screen() -> Screen {
        Screen {
            menu: "billing".into(),
            title: "Bills".into(),
            path: vec![
                Crumb {
                    id: "main".into(),
                    title: "Main".into(),
                },
                Crumb {
                    id: "billing".into(),
                    title: "Bills".into(),
                },
            ],
            items: vec![
                Entry {
                    id: "due".into(),
                    title: "When is it due?".into(),
                    kind: "content".into(),
                },
                Entry {
                    id: "call".into(),
                    title: "Talk to us".into(),
                    kind: "voice".into(),
                },
            ],
        }
    }

    #[test]
    fn choices_by_number_id_or_word() {
        let s = screen();
        assert_eq!(parse_choice(" 2 ", &s), Choice::Item("call".into()));
        assert_eq!(parse_choice("due", &s), Choice::Item("due".into()));
        assert_eq!(parse_choice("BACK", &s), Choice::Back);
        assert_eq!(parse_choice("end", &s), Choice::End);
        assert_eq!(parse_choice("", &s), Choice::Empty);
        assert!(matches!(parse_choice("3", &s), Choice::Unknown(_)));
        assert!(matches!(parse_choice("0", &s), Choice::Unknown(_)));
        assert!(matches!(parse_choice("nope", &s), Choice::Unknown(_)));
    }

    #[test]
    fn screens_render_as_numbered_text() {
        let text = render_screen(&screen());
        assert_eq!(
            text,
            "Main › Bills\n== Bills ==\n  1. When is it due?\n  2. Talk to us  [call]\nChoose a number, or: back, home, end\n"
        );
        let reply = Reply {
            screen: screen(),
            content: Some(Content {
                item: "due".into(),
                title: "When is it due?".into(),
                text: "On the 1st.\n".into(),
            }),
            notice: None,
            duplicate: false,
        };
        assert!(
            render_reply(&reply)
                .starts_with("\n-- When is it due? --\nOn the 1st.\n\nMain › Bills\n")
        );
    }
}

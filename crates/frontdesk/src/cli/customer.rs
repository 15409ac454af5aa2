//! `frontdesk customer`: the digital service menu in a terminal (seed step 3: the
//! menu shown as text), the answer bot from a `bot` item, and the chat with an
//! agent from a `chat` item (or from the bot, handing over).
//! Interactive on a terminal; scriptable from a pipe.
//!
//! Standard input and the server are read at once (`select!`): news from the
//! server (a new place in the queue, an agent's message) is printed as it
//! comes, not when the next line is typed.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use frontdesk_client::{ClientError, CustomerClient, CustomerEvent, QueueStatus, Reply};
use frontdesk_protocol::{ChatLine, Screen};
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

/// One line of input at the menu, understood.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    Item(String),
    Back,
    Home,
    End,
    Cancel,
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
        "cancel" => Choice::Cancel,
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

/// One line of input during a chat, understood: everything is a message to the
/// agent except a few commands that start with `/`.
#[derive(Debug, PartialEq, Eq)]
enum ChatInput {
    Say(String),
    End,
    Help,
    Empty,
}

fn parse_chat(line: &str) -> ChatInput {
    let text = line.trim();
    match text.to_ascii_lowercase().as_str() {
        "" => ChatInput::Empty,
        "/end" | "/quit" | "/exit" => ChatInput::End,
        "/help" | "/?" => ChatInput::Help,
        _ => ChatInput::Say(text.to_owned()),
    }
}

const MENU_HELP: &str = "Type the number of an item (or its id), `back`, `home` or `end`.";
const QUEUE_HELP: &str = "Type cancel to leave the queue; the menu stays usable while you wait.";
const CHAT_HELP: &str = "Type your message and press Enter; /end ends the consultation.";
const BOT_HELP: &str = "Type your question. /human: talk to a person; /no: keep asking the bot \
                        when it offers one; /menu: back to the menu; /end: end.";
const OFFER: &str =
    "The bot can hand you to a person: type /human to accept, or /no to keep asking.";

/// One line of input while the bot is open.
#[derive(Debug, PartialEq, Eq)]
enum BotInput {
    Ask(String),
    Human,
    Decline,
    Menu,
    End,
    Help,
    Empty,
}

fn parse_bot(line: &str) -> BotInput {
    let text = line.trim();
    match text.to_ascii_lowercase().as_str() {
        "" => BotInput::Empty,
        "/human" | "/yes" | "/agent" => BotInput::Human,
        "/no" | "/decline" => BotInput::Decline,
        "/menu" | "/back" => BotInput::Menu,
        "/end" | "/quit" | "/exit" => BotInput::End,
        "/help" | "/?" => BotInput::Help,
        _ => BotInput::Ask(text.to_owned()),
    }
}

fn render_bot_answer(answer: Option<&frontdesk_protocol::BotReply>, offer: bool) -> String {
    let mut out = match answer {
        Some(a) => format!("bot: {}\n", a.text.trim_end()),
        None => "bot: Sorry, I have no answer to that.\n".to_owned(),
    };
    if offer {
        out += OFFER;
        out.push('\n');
    }
    out
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

fn render_queued(q: &QueueStatus) -> String {
    match q.estimated_wait_ms {
        Some(ms) => {
            // Round up: "about 0 min" would promise too much.
            let minutes = ms.div_ceil(60_000).max(1);
            format!(
                "Waiting for an agent: position {}, about {minutes} min\n",
                q.position
            )
        }
        // No agent is taking customers: no estimate to give.
        None => format!(
            "Waiting for an agent: position {}, no agent is available yet\n",
            q.position
        ),
    }
}

fn render_line(line: &ChatLine, agent: &str) -> String {
    let who = if line.from != "agent" {
        "you".to_owned()
    } else if agent.is_empty() {
        "agent".to_owned()
    } else {
        format!("agent {agent}")
    };
    format!("{who}: {}\n", line.text.trim_end())
}

/// What of the queue and the chat has been shown, so that news is printed once
/// (the server sends the whole chat again after a resume).
#[derive(Debug, Default)]
struct ChatView {
    /// Chat lines printed (or typed here), by `seq`.
    shown: BTreeSet<u64>,
    /// Waiting for an agent, as last shown.
    waiting: bool,
    /// The service of the chat shown, and its agent's name.
    chat: Option<(String, String)>,
    /// The bot is open: lines are questions.
    bot: bool,
}

impl ChatView {
    fn agent_name(&self) -> &str {
        self.chat.as_ref().map_or("", |(_, name)| name.as_str())
    }

    fn line(&mut self, line: &ChatLine) -> String {
        if self.shown.insert(line.seq) {
            render_line(line, self.agent_name())
        } else {
            String::new()
        }
    }

    /// The text for one event (empty when there is nothing new to say).
    fn render(&mut self, event: &CustomerEvent) -> String {
        match event {
            CustomerEvent::Queued(q) => {
                let mut out = String::new();
                if q.requeued {
                    out += "You are back at the head of the queue.\n";
                }
                if let Some(a) = &q.waiting_for
                    && !self.waiting
                {
                    out += &format!("Waiting for {} first.\n", a.name);
                }
                out += &render_queued(q);
                if !self.waiting {
                    self.waiting = true;
                    out += QUEUE_HELP;
                    out.push('\n');
                }
                out
            }
            CustomerEvent::FellBack { agent } => format!(
                "{} is still busy: the next available agent will take you.\n",
                agent.name
            ),
            CustomerEvent::AgentJoined {
                service,
                agent,
                messages,
            } => {
                self.waiting = false;
                let mut out = String::new();
                if self.chat.as_ref().is_none_or(|(s, _)| s != service) {
                    out += &format!("\nAgent {} joined the chat. {CHAT_HELP}\n", agent.name);
                }
                self.chat = Some((service.clone(), agent.name.clone()));
                for line in messages {
                    out += &self.line(line);
                }
                out
            }
            CustomerEvent::Chat { line, .. } => self.line(line),
            CustomerEvent::AgentStatus {
                online, grace_ms, ..
            } => {
                if *online {
                    "(the agent is back)\n".to_owned()
                } else {
                    match grace_ms {
                        Some(ms) => format!(
                            "(the agent lost their connection; waiting up to {} s for them)\n",
                            ms.div_ceil(1000)
                        ),
                        None => "(the agent lost their connection)\n".to_owned(),
                    }
                }
            }
            CustomerEvent::ServiceEnded { reason, screen, .. } => {
                self.chat = None;
                let why = match reason.as_str() {
                    "agent" => "The agent ended the chat.",
                    "agent_lost" => "The agent did not come back.",
                    _ => "The chat ended.",
                };
                format!("\n{why}\n\n{}", render_screen(screen))
            }
            CustomerEvent::BotOpened { turns, offer, .. } => {
                self.bot = true;
                let mut out = format!("\nThe answer bot is listening. {BOT_HELP}\n");
                for t in turns {
                    out += &format!("you: {}\n", t.question);
                    out += &render_bot_answer(t.answer.as_ref(), false);
                }
                if *offer {
                    out += OFFER;
                    out.push('\n');
                }
                out
            }
            CustomerEvent::BotAnswered(a) => render_bot_answer(a.answer.as_ref(), a.offer),
            CustomerEvent::Said(said) => {
                // A message resent after a reconnect, now stored; it was printed
                // as typed.
                self.shown.insert(said.seq);
                String::new()
            }
            CustomerEvent::SayRefused { code, message, .. } => {
                format!("! a message was not delivered: {message} [{code}]\n")
            }
        }
    }

    /// The client left the queue (or never was in it): say so next time.
    fn left_queue(&mut self) {
        self.waiting = false;
    }
}

/// How handling one line ended.
enum Next {
    Continue,
    Exit(ExitCode),
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

    let mut view = ChatView::default();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // The server closes connections that say nothing for a minute; a person
    // reading a long answer should not lose theirs.
    let mut heartbeat = tokio::time::interval(Duration::from_secs(20));
    heartbeat.tick().await;
    // Whether to show the prompt again: after output, not after a silent heartbeat.
    let mut prompt = true;
    loop {
        // News that came with the last answer (e.g. `queued` after choosing chat).
        let news: Vec<CustomerEvent> = client.events().collect();
        for event in &news {
            let text = view.render(event);
            prompt |= !text.is_empty();
            print!("{text}");
        }
        if interactive && prompt {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
        prompt = false;
        // `next_line` and `next_event` are cancel-safe: whichever loses the race
        // loses nothing.
        let line = tokio::select! {
            line = lines.next_line() => line?,
            event = client.next_event(Duration::from_secs(3600)) => {
                match event {
                    Ok(event) => {
                        let text = view.render(&event);
                        if !text.is_empty() {
                            // Over the prompt, which is shown again below.
                            let over = if interactive { "\r  \r" } else { "" };
                            print!("{over}{text}");
                            prompt = true;
                        }
                    }
                    Err(ClientError::Timeout) => {}
                    Err(ClientError::Server { code, message }) => {
                        println!("! {message} [{code}]");
                        return Ok(ExitCode::FAILURE);
                    }
                    Err(e) => return Err(anyhow::anyhow!("lost the server: {e}")),
                }
                continue;
            }
            _ = heartbeat.tick() => {
                if let Err(e) = client.ping().await {
                    tracing::debug!(error = %e, "heartbeat failed; the next step reconnects");
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
        prompt = true;
        let next = if client.chat().is_some() {
            chat_line(&mut client, &mut view, &line).await?
        } else if view.bot && client.waiting().is_none() {
            bot_line(&mut client, &mut view, &line).await?
        } else {
            menu_line(&mut client, &mut view, &line).await?
        };
        if let Next::Exit(code) = next {
            return Ok(code);
        }
    }
}

/// Ends the consultation and says goodbye.
async fn end(client: &mut CustomerClient) -> anyhow::Result<Next> {
    match client.end().await {
        Ok(items) => {
            println!("Consultation ended; {items} item(s) recorded. Thank you!");
            Ok(Next::Exit(ExitCode::SUCCESS))
        }
        Err(ClientError::Server { code, message }) => {
            println!("! {message} [{code}]");
            Ok(Next::Continue)
        }
        Err(e) => Err(anyhow::anyhow!("lost the server: {e}")),
    }
}

/// A line typed at the menu (waiting for an agent or not).
async fn menu_line(
    client: &mut CustomerClient,
    view: &mut ChatView,
    line: &str,
) -> anyhow::Result<Next> {
    let result = match parse_choice(line, &client.screen) {
        Choice::Empty => return Ok(Next::Continue),
        Choice::Help => {
            println!("{MENU_HELP}");
            if client.waiting().is_some() {
                println!("{QUEUE_HELP}");
            }
            return Ok(Next::Continue);
        }
        Choice::Unknown(why) => {
            println!("! {why}");
            if client.waiting().is_some() {
                // Typed as if the chat were open: say why it is not yet.
                println!("(the chat opens when an agent joins) {QUEUE_HELP}");
            }
            return Ok(Next::Continue);
        }
        Choice::End => return end(client).await,
        Choice::Item(id) => client.select(&id).await,
        Choice::Back => client.back().await,
        Choice::Home => client.home().await,
        Choice::Cancel => {
            let r = client.cancel().await;
            view.left_queue();
            r
        }
    };
    match result {
        Ok(reply) => print!("{}", render_reply(&reply)),
        Err(ClientError::Server { code, message }) => println!("! {message} [{code}]"),
        Err(e) => return Err(anyhow::anyhow!("lost the server: {e}")),
    }
    Ok(Next::Continue)
}

/// A line typed while the bot is open.
async fn bot_line(
    client: &mut CustomerClient,
    view: &mut ChatView,
    line: &str,
) -> anyhow::Result<Next> {
    let outcome = match parse_bot(line) {
        BotInput::Empty => return Ok(Next::Continue),
        BotInput::Help => {
            println!("{BOT_HELP}");
            return Ok(Next::Continue);
        }
        BotInput::End => return end(client).await,
        BotInput::Menu => {
            view.bot = false;
            print!("{}", render_screen(&client.screen));
            return Ok(Next::Continue);
        }
        BotInput::Ask(text) => client
            .ask(&text)
            .await
            .map(|a| print!("{}", render_bot_answer(a.answer.as_ref(), a.offer))),
        BotInput::Decline => client.decline().await.map(|()| println!("OK, ask away.")),
        BotInput::Human => client.human().await.map(|_| {
            view.bot = false;
            println!("Handing you to a person; they will see your questions.");
        }),
    };
    match outcome {
        Ok(()) => Ok(Next::Continue),
        Err(ClientError::Server { code, message }) => {
            println!("! {message} [{code}]");
            Ok(Next::Continue)
        }
        Err(e) => Err(anyhow::anyhow!("lost the server: {e}")),
    }
}

/// A line typed during a chat.
async fn chat_line(
    client: &mut CustomerClient,
    view: &mut ChatView,
    line: &str,
) -> anyhow::Result<Next> {
    match parse_chat(line) {
        ChatInput::Empty => {}
        ChatInput::Help => println!("{CHAT_HELP}"),
        ChatInput::End => return end(client).await,
        ChatInput::Say(text) => match client.say(&text).await {
            Ok(said) => {
                view.shown.insert(said.seq);
            }
            Err(ClientError::Server { code, message }) => {
                println!("! not delivered: {message} [{code}]");
            }
            Err(e) => return Err(anyhow::anyhow!("lost the server: {e}")),
        },
    }
    Ok(Next::Continue)
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
        assert_eq!(parse_choice("Cancel", &s), Choice::Cancel);
    }

    #[test]
    fn in_a_chat_everything_is_a_message_but_slash_commands() {
        assert_eq!(
            parse_chat("  end of month?  "),
            ChatInput::Say("end of month?".into())
        );
        assert_eq!(parse_chat("3"), ChatInput::Say("3".into()));
        assert_eq!(parse_chat("/END"), ChatInput::End);
        assert_eq!(parse_chat("/help"), ChatInput::Help);
        assert_eq!(parse_chat(" "), ChatInput::Empty);
    }

    fn chat_line(seq: u64, from: &str, text: &str) -> ChatLine {
        ChatLine {
            seq,
            from: from.into(),
            text: text.into(),
            at_ms: 0,
            id: format!("m{seq}"),
        }
    }

    #[test]
    fn the_queue_and_the_chat_print_once_each() {
        use frontdesk_protocol::AgentCard;
        let mut view = ChatView::default();
        let queued = |position, ms, agents| {
            CustomerEvent::Queued(QueueStatus {
                position,
                waiting: 3,
                estimated_wait_ms: ms,
                agents_available: agents,
                requeued: false,
                waiting_for: None,
            })
        };
        assert_eq!(
            view.render(&queued(3, Some(150_000), 1)),
            format!("Waiting for an agent: position 3, about 3 min\n{QUEUE_HELP}\n")
        );
        assert_eq!(
            view.render(&queued(1, None, 0)),
            "Waiting for an agent: position 1, no agent is available yet\n"
        );
        let joined = |messages| CustomerEvent::AgentJoined {
            service: "s1".into(),
            agent: AgentCard {
                id: 2,
                name: "Ada".into(),
            },
            messages,
        };
        let text = view.render(&joined(vec![]));
        assert!(text.contains("Agent Ada joined the chat."), "{text}");
        assert_eq!(
            view.render(&CustomerEvent::Chat {
                service: "s1".into(),
                line: chat_line(1, "agent", "Hello, how can I help?"),
            }),
            "agent Ada: Hello, how can I help?\n"
        );
        view.shown.insert(2); // typed here
        // After a resume the whole chat comes again: only the new line is printed.
        let text = view.render(&joined(vec![
            chat_line(1, "agent", "Hello, how can I help?"),
            chat_line(2, "customer", "my bill"),
            chat_line(3, "agent", "Let me look."),
        ]));
        assert_eq!(text, "agent Ada: Let me look.\n");
        let text = view.render(&CustomerEvent::ServiceEnded {
            service: "s1".into(),
            reason: "agent".into(),
            screen: screen(),
        });
        assert!(
            text.starts_with("\nThe agent ended the chat.\n\nMain › Bills\n"),
            "{text}"
        );
        assert!(view.chat.is_none());
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

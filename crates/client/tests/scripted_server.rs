//! The customer client against a scripted server: each test plays the server's
//! side message by message, so the orders that are hard to provoke from the real
//! server (a push between an answer and its ack, a connection lost before `said`)
//! are exercised exactly.

use std::marker::PhantomData;
use std::time::Duration;

use frontdesk_client::{CustomerClient, CustomerEvent};
use frontdesk_protocol::{
    AgentCard, ChatLine, ClientMessage, Crumb, ErrorCode, Limits, Screen, ServerMessage,
};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
type Ws = WebSocketStream<TcpStream>;

const WAIT: Duration = Duration::from_secs(5);

/// The server's side of one connection of either protocol: it reads `In` (the
/// client's messages) and sends `Out`.
struct Peer<In, Out> {
    ws: Ws,
    protocol: PhantomData<fn(Out) -> In>,
}

impl<In: DeserializeOwned, Out: Serialize> Peer<In, Out> {
    fn new(ws: Ws) -> Self {
        Self {
            ws,
            protocol: PhantomData,
        }
    }

    async fn recv(&mut self) -> Result<In> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await?
                .ok_or("closed")??;
            if let Message::Text(t) = msg {
                return Ok(serde_json::from_str(t.as_str())?);
            }
        }
    }

    async fn send(&mut self, msg: &Out) -> Result {
        self.ws
            .send(Message::Text(serde_json::to_string(msg)?.into()))
            .await?;
        Ok(())
    }
}

/// The server's side of a customer connection.
type CustomerPeer = Peer<ClientMessage, ServerMessage>;

impl CustomerPeer {
    async fn accept(listener: &TcpListener) -> Result<Self> {
        let (tcp, _) = listener.accept().await?;
        Ok(Self::new(tokio_tungstenite::accept_async(tcp).await?))
    }

    /// Reads `hello` and answers `welcome`.
    async fn welcome(&mut self, resumed: bool, last_req: u64) -> Result<ClientMessage> {
        let hello = self.recv().await?;
        self.send(&ServerMessage::Welcome {
            protocol: 1,
            consultation: "c1".into(),
            resume_token: "fdc_secret".into(),
            menu_version: 1,
            resumed,
            last_req,
            screen: screen(),
            limits: Limits {
                max_message_bytes: 8192,
                messages_per_sec: 20,
                burst: 40,
                idle_timeout_secs: 60,
            },
        })
        .await?;
        Ok(hello)
    }
}

fn screen() -> Screen {
    Screen {
        menu: "main".into(),
        title: "Main".into(),
        path: vec![Crumb {
            id: "main".into(),
            title: "Main".into(),
        }],
        items: vec![],
    }
}

fn agent_joined(messages: Vec<ChatLine>) -> ServerMessage {
    ServerMessage::AgentJoined {
        service: "s1".into(),
        agent: AgentCard {
            id: 7,
            name: "Ada".into(),
        },
        messages,
    }
}

fn line(seq: u64, from: &str, id: &str, text: &str) -> ChatLine {
    ChatLine {
        seq,
        from: from.into(),
        text: text.into(),
        at_ms: 1_000,
        id: id.into(),
    }
}

async fn listen() -> Result<(TcpListener, String)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok((listener, url))
}

#[tokio::test]
async fn pushes_around_a_requests_answer_become_events() -> Result {
    let (listener, url) = listen().await?;
    let server = tokio::spawn(async move {
        let mut peer = CustomerPeer::accept(&listener).await?;
        peer.welcome(false, 0).await?;
        let ClientMessage::Select { req, .. } = peer.recv().await? else {
            return Err("expected select".into());
        };
        // The order of PROTOCOL.md: screen, queued, ack.
        peer.send(&ServerMessage::Screen {
            req,
            screen: screen(),
            content: None,
            notice: None,
            duplicate: false,
        })
        .await?;
        for position in [2, 1] {
            peer.send(&ServerMessage::Queued {
                position,
                waiting: 2,
                estimated_wait_ms: Some(60_000),
                agents_available: 1,
                requeued: false,
                waiting_for: None,
            })
            .await?;
        }
        peer.send(&ServerMessage::Ack { req }).await?;
        peer.send(&agent_joined(vec![])).await?;
        peer.send(&ServerMessage::Chat {
            service: "s1".into(),
            line: line(1, "agent", "a1", "Hello!"),
        })
        .await?;
        // Sent twice (as around a reconnect): one event only.
        peer.send(&ServerMessage::Chat {
            service: "s1".into(),
            line: line(1, "agent", "a1", "Hello!"),
        })
        .await?;
        let ClientMessage::Cancel { req } = peer.recv().await? else {
            return Err("expected cancel".into());
        };
        peer.send(&ServerMessage::Error {
            req: Some(req),
            id: None,
            error: ErrorCode::NotQueued,
            message: "you are not waiting".into(),
            retry_after_ms: None,
        })
        .await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    });

    let mut c = CustomerClient::start(&url, "+12015550123").await?;
    c.select("chat").await?;
    assert_eq!(c.waiting().map(|q| q.position), Some(1), "the latest place");
    let queued: Vec<u32> = c
        .events()
        .filter_map(|e| match e {
            CustomerEvent::Queued(q) => Some(q.position),
            _ => None,
        })
        .collect();
    assert_eq!(queued, [2, 1]);
    let e = c.next_event(WAIT).await?;
    assert!(matches!(e, CustomerEvent::AgentJoined { .. }), "{e:?}");
    assert_eq!(c.chat().map(|s| s.agent.name.as_str()), Some("Ada"));
    assert_eq!(c.waiting(), None);
    let e = c.next_event(WAIT).await?;
    assert!(
        matches!(&e, CustomerEvent::Chat { line, .. } if line.text == "Hello!"),
        "{e:?}"
    );
    let e = c.cancel().await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotQueued));
    assert!(
        c.events().next().is_none(),
        "the repeated line was no event"
    );
    assert_eq!(c.transcript().len(), 1);
    server.await??;
    Ok(())
}

#[tokio::test]
async fn a_message_lost_with_the_connection_is_resent_under_its_id() -> Result {
    let (listener, url) = listen().await?;
    let server = tokio::spawn(async move {
        let mut peer = CustomerPeer::accept(&listener).await?;
        peer.welcome(false, 0).await?;
        peer.send(&agent_joined(vec![])).await?;
        // The message arrives and is stored, then the network fails before `said`.
        let ClientMessage::Say { id: first, text } = peer.recv().await? else {
            return Err("expected say".into());
        };
        drop(peer);

        let mut peer = CustomerPeer::accept(&listener).await?;
        let hello = peer.welcome(true, 0).await?;
        if hello != ClientMessage::resume("fdc_secret") {
            return Err(format!("expected a resume, got {hello:?}").into());
        }
        peer.send(&agent_joined(vec![
            line(1, "customer", &first, &text),
            line(2, "agent", "a1", "Got it."),
        ]))
        .await?;
        let ClientMessage::Say { id: again, .. } = peer.recv().await? else {
            return Err("expected the resent say".into());
        };
        peer.send(&ServerMessage::Said {
            id: again.clone(),
            service: "s1".into(),
            seq: 1,
            at_ms: 1_000,
            duplicate: true,
        })
        .await?;
        // Then a rate limit that names no message: the client sends its next
        // message again, under the same id.
        let ClientMessage::Say { id: third, .. } = peer.recv().await? else {
            return Err("expected say".into());
        };
        peer.send(&ServerMessage::Error {
            req: None,
            id: None,
            error: ErrorCode::RateLimited,
            message: "slow down".into(),
            retry_after_ms: Some(20),
        })
        .await?;
        let ClientMessage::Say { id: fourth, .. } = peer.recv().await? else {
            return Err("expected the say again".into());
        };
        peer.send(&ServerMessage::Said {
            id: fourth.clone(),
            service: "s1".into(),
            seq: 3,
            at_ms: 2_000,
            duplicate: false,
        })
        .await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((first, again, third, fourth))
    });

    let mut c = CustomerClient::start(&url, "+12015550123").await?;
    assert!(matches!(
        c.next_event(WAIT).await?,
        CustomerEvent::AgentJoined { .. }
    ));
    let said = c.say("my bill is wrong").await?;
    assert!(said.duplicate, "the server had it: stored once");
    assert_eq!(said.seq, 1);
    assert_eq!(c.unacknowledged_says(), 0);
    let said = c.say("hello?").await?;
    assert_eq!(said.seq, 3);
    let (first, again, third, fourth) = server.await??;
    assert_eq!(first, again, "resent under the id it was first sent with");
    assert_eq!(third, fourth);
    assert_eq!(said.id, fourth);
    let lines: Vec<(u64, &str, &str)> = c
        .transcript()
        .iter()
        .map(|l| (l.seq, l.from.as_str(), l.text.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (1, "customer", "my bill is wrong"),
            (2, "agent", "Got it."),
            (3, "customer", "hello?")
        ]
    );
    Ok(())
}

mod agent {
    use super::*;
    use frontdesk_client::AgentClient;
    use frontdesk_protocol::agent::{
        AgentClientMessage, AgentInfo, AgentServerMessage, PresenceChoice, QueueView, ServiceView,
    };
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    use tokio_tungstenite::tungstenite::http::StatusCode;

    /// The server's side of an agent connection.
    type AgentPeer = Peer<AgentClientMessage, AgentServerMessage>;

    impl AgentPeer {
        /// Accepts a connection that must carry `Authorization: Bearer good`;
        /// refuses any other with 401 and the shared error body.
        async fn accept(listener: &TcpListener) -> Result<Option<Self>> {
            let (tcp, _) = listener.accept().await?;
            #[expect(
                clippy::result_large_err,
                reason = "the shape tungstenite's handshake callback must have"
            )]
            let check = |req: &Request, resp: Response| {
                let auth = req.headers().get("authorization").map(|v| v.as_bytes());
                if req.uri().path() == "/agent/ws" && auth == Some(b"Bearer good") {
                    Ok(resp)
                } else {
                    let mut refused = ErrorResponse::new(Some(
                        r#"{"error":"unauthorized","message":"log in first"}"#.to_owned(),
                    ));
                    *refused.status_mut() = StatusCode::UNAUTHORIZED;
                    Err(refused)
                }
            };
            match tokio_tungstenite::accept_hdr_async(tcp, check).await {
                Ok(ws) => Ok(Some(Self::new(ws))),
                Err(_) => Ok(None),
            }
        }

        async fn welcome(&mut self, services: Vec<ServiceView>) -> Result {
            self.send(&AgentServerMessage::Welcome {
                agent: AgentInfo {
                    id: 7,
                    username: "ada".into(),
                    name: "Ada".into(),
                    chat_capacity: 1,
                },
                state: "away".into(),
                services,
                queue: QueueView::default(),
            })
            .await
        }
    }

    fn service(messages: Vec<ChatLine>) -> ServiceView {
        ServiceView {
            id: "s1".into(),
            consultation: "c1".into(),
            phone: "+12015550123".into(),
            tier: "core".into(),
            need: "chat".into(),
            queued_ms: 1,
            started_ms: 2,
            viewed: vec![],
            messages,
            customer_online: true,
            bot: vec![],
            bot_mean: None,
        }
    }

    #[tokio::test]
    async fn an_agent_takes_a_customer_chats_across_a_reconnect_and_ends() -> Result {
        let (listener, url) = listen().await?;
        let server = tokio::spawn(async move {
            if AgentPeer::accept(&listener).await?.is_some() {
                return Err("a bad token was let in".into());
            }
            let mut peer = AgentPeer::accept(&listener).await?.ok_or("refused")?;
            peer.welcome(vec![]).await?;
            let AgentClientMessage::Presence {
                state: PresenceChoice::Idle,
            } = peer.recv().await?
            else {
                return Err("expected presence".into());
            };
            peer.send(&AgentServerMessage::Queue {
                queue: QueueView::default(),
            })
            .await?;
            // A push sent before the request was handled, then the answer.
            peer.send(&AgentServerMessage::State {
                state: "away".into(),
                reply: false,
            })
            .await?;
            peer.send(&AgentServerMessage::State {
                state: "idle".into(),
                reply: true,
            })
            .await?;
            peer.send(&AgentServerMessage::State {
                state: "busy".into(),
                reply: false,
            })
            .await?;
            peer.send(&AgentServerMessage::Assigned {
                service: service(vec![line(1, "customer", "c-1", "hi")]),
            })
            .await?;
            let AgentClientMessage::Say { id: first, .. } = peer.recv().await? else {
                return Err("expected say".into());
            };
            drop(peer);

            let mut peer = AgentPeer::accept(&listener).await?.ok_or("refused")?;
            peer.welcome(vec![service(vec![line(1, "customer", "c-1", "hi")])])
                .await?;
            let AgentClientMessage::Say {
                id: again, service, ..
            } = peer.recv().await?
            else {
                return Err("expected the resent say".into());
            };
            peer.send(&AgentServerMessage::Said {
                service,
                id: again.clone(),
                seq: 2,
                at_ms: 5,
                duplicate: false,
            })
            .await?;
            let AgentClientMessage::EndService { service } = peer.recv().await? else {
                return Err("expected end_service".into());
            };
            peer.send(&AgentServerMessage::ServiceEnded {
                service,
                reason: "agent".into(),
            })
            .await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((first, again))
        });

        let e = AgentClient::connect(&url, "bad").await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::Unauthorized), "{e}");
        let mut agent = AgentClient::connect(&url, "good").await?;
        assert_eq!(agent.info().name, "Ada");
        assert_eq!(agent.presence(PresenceChoice::Idle).await?, "idle");
        let s = agent.wait_assigned(WAIT).await?;
        assert_eq!(s.id, "s1");
        assert_eq!(agent.state(), "busy", "skipped, but taken in");
        // The connection is lost before `said`: the message waits in the outbox.
        agent.timeout = Duration::from_millis(500);
        let e = agent.say("s1", "hello, I am Ada").await.unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert_eq!(agent.unacknowledged_says(), 1);
        agent.reconnect().await?;
        assert_eq!(agent.welcome().services.len(), 1);
        let said = agent.next_event(WAIT).await?;
        assert!(
            matches!(&said, AgentServerMessage::Said { seq: 2, .. }),
            "{said:?}"
        );
        assert_eq!(agent.unacknowledged_says(), 0);
        let lines: Vec<(u64, &str)> = agent
            .transcript("s1")
            .ok_or("s1")?
            .iter()
            .map(|l| (l.seq, l.text.as_str()))
            .collect();
        assert_eq!(lines, [(1, "hi"), (2, "hello, I am Ada")]);
        assert_eq!(agent.end_service("s1").await?, "agent");
        assert!(agent.services().is_empty());
        let (first, again) = server.await??;
        assert_eq!(first, again);
        Ok(())
    }
}

//! The agent's page at `/a/CODE` (seed 004 claims 3, 8): mobile-first HTML made on
//! the server, with no script. It shows the agent (photo, name, id, slogan, contact
//! number), their satisfaction score and service record, this customer's services
//! with them, and recent ratings; the customer rates a service with a plain form,
//! and starts a chat routed to this agent first (`/?link=CODE`).
//!
//! Every piece of text is escaped ([`esc`]). The page is private to the link's
//! holder: `Cache-Control: no-store`, `Referrer-Policy: no-referrer` (the code is
//! in the address), no indexing. Its style sheet is `assets/card.css`. An unknown, tampered or malformed code gets the
//! same 404 page after the same work ([`super::Cards::resolve`]).

use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use frontdesk_domain::profile::{Rating, Satisfaction};
use frontdesk_store::cards::{LinkRow, PastService, ProfileRow, Rated, RatingRow, RatingWrite};
use serde::Deserialize;

use crate::AppState;
use crate::time::now_ms;

/// Ratings listed on the page.
const RATINGS_SHOWN: u32 = 20;
/// Past services listed on the page.
const SERVICES_SHOWN: u32 = 20;

/// Escapes text for HTML element content and quoted attribute values.
#[must_use]
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn private_headers(h: &mut HeaderMap) {
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex"),
    );
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    private_headers(r.headers_mut());
    r
}

fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        shell(
            "Link not found",
            "<main><h1>Link not found</h1><p>This link is not valid. Check the text message \
             it came in.</p></main>",
        ),
    )
}

fn unavailable() -> Response {
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        shell(
            "Try again",
            "<main><h1>Something went wrong</h1><p>Please try again in a moment.</p></main>",
        ),
    )
}

async fn resolve(app: &AppState, code: &str) -> Result<LinkRow, Response> {
    match app.cards.resolve(code).await {
        Ok(Some(link)) => Ok(link),
        Ok(None) => Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "could not look up a link");
            Err(unavailable())
        }
    }
}

/// Why the page is shown again after a rating.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// A service just rated.
    rated: Option<String>,
}

/// `GET /a/{code}`.
pub async fn page(
    State(app): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let link = match resolve(&app, &code).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let note = q
        .rated
        .is_some()
        .then_some(Note::Info("Thank you for your rating."));
    render(&app, &code, &link, StatusCode::OK, note).await
}

/// A message above the rating form.
enum Note {
    Info(&'static str),
    Problem(String),
}

async fn render(
    app: &AppState,
    code: &str,
    link: &LinkRow,
    status: StatusCode,
    note: Option<Note>,
) -> Response {
    let facts = async {
        let profile = app.store.profile(link.agent_id).await?;
        let past = app
            .store
            .services_between(link.agent_id, &link.phone, SERVICES_SHOWN)
            .await?;
        let ratings = app.store.ratings(link.agent_id, RATINGS_SHOWN).await?;
        Ok::<_, frontdesk_store::StoreError>((profile, past, ratings))
    };
    match facts.await {
        Ok((Some(p), past, ratings)) => html(status, agent_page(code, &p, &past, &ratings, note)),
        Ok((None, ..)) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, "could not read an agent's page");
            unavailable()
        }
    }
}

/// The rating form's fields.
#[derive(Debug, Deserialize)]
pub struct RatingForm {
    /// The service rated.
    service: String,
    /// 1–5.
    stars: Option<String>,
    /// Optional comment.
    #[serde(default)]
    comment: String,
}

/// `POST /a/{code}/rating`: rates one of this customer's services with this agent,
/// once. Then back to the page (303), or the page again with the problem.
pub async fn rate(
    State(app): State<AppState>,
    Path(code): Path<String>,
    Form(f): Form<RatingForm>,
) -> Response {
    let link = match resolve(&app, &code).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let stars = f
        .stars
        .as_deref()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let rating = match Rating::new(stars, &f.comment) {
        Ok(r) => r,
        Err(e) => {
            let note = Some(Note::Problem(e.to_string()));
            return render(&app, &code, &link, StatusCode::UNPROCESSABLE_ENTITY, note).await;
        }
    };
    let stored = app
        .store
        .rate(&RatingWrite {
            service_id: &f.service,
            agent_id: link.agent_id,
            phone: &link.phone,
            stars: rating.stars,
            comment: &rating.comment,
            now: now_ms(),
        })
        .await;
    let (status, problem) = match stored {
        Ok(Rated::Stored) => {
            app.cards.ratings.inc();
            tracing::info!(agent = link.agent_id, service = %f.service, stars = rating.stars, "service rated");
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(to) = HeaderValue::from_str(&format!("/a/{code}?rated=1")) {
                r.headers_mut().insert(LOCATION, to);
            }
            private_headers(r.headers_mut());
            return r;
        }
        Ok(Rated::Already) => (StatusCode::CONFLICT, "You have already rated this service."),
        Ok(Rated::NotTheirs) => (
            StatusCode::NOT_FOUND,
            "That service is not one of yours with this agent.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "could not store a rating");
            return unavailable();
        }
    };
    render(
        &app,
        &code,
        &link,
        status,
        Some(Note::Problem(problem.into())),
    )
    .await
}

/// `GET /a/{code}/photo`: the agent's photo, or a drawn default (their initials).
pub async fn photo(State(app): State<AppState>, Path(code): Path<String>) -> Response {
    let link = match resolve(&app, &code).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    photo_of(&app, link.agent_id).await
}

/// An agent's photo response (also used by the REST API).
pub async fn photo_of(app: &AppState, agent: i64) -> Response {
    let (bytes, ty) = match app.store.photo(agent).await {
        Ok(Some(p)) => (p.bytes, p.content_type),
        Ok(None) => {
            let name = match app.store.profile(agent).await {
                Ok(Some(p)) => p.display_name,
                Ok(None) => return StatusCode::NOT_FOUND.into_response(),
                Err(e) => {
                    tracing::error!(error = %e, "could not read a profile");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            };
            (
                default_avatar(agent, &name).into_bytes(),
                "image/svg+xml".to_owned(),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read a photo");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut r = bytes.into_response();
    if let Ok(v) = HeaderValue::from_str(&ty) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    private_headers(r.headers_mut());
    r.headers_mut().insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A round badge with the agent's initials on a colour picked by their id.
#[must_use]
pub fn default_avatar(agent: i64, name: &str) -> String {
    const COLOURS: [&str; 8] = [
        "#1f6feb", "#8250df", "#bf3989", "#cf222e", "#bc4c00", "#4d2d00", "#1a7f37", "#0969da",
    ];
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    let colour = COLOURS[usize::try_from(agent.rem_euclid(8)).unwrap_or(0)];
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 96 96\" width=\"96\" height=\"96\">\
         <circle cx=\"48\" cy=\"48\" r=\"48\" fill=\"{colour}\"/>\
         <text x=\"48\" y=\"60\" font-family=\"sans-serif\" font-size=\"36\" fill=\"#fff\" \
         text-anchor=\"middle\">{}</text></svg>",
        esc(&initials)
    )
}

fn day(ms: i64) -> String {
    let fmt = time::macros::format_description!("[day padding:none] [month repr:short] [year]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

fn stars_text(n: u8) -> String {
    let n = usize::from(n.min(5));
    format!("{}{}", "★".repeat(n), "☆".repeat(5 - n))
}

/// The pages' icon (the customer page's), inline: no request for `/favicon.ico`.
const ICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%230a58ca'/%3E%3Cpath d='M9 8.5h14a1.5 1.5 0 0 1 1.5 1.5v9a1.5 1.5 0 0 1-1.5 1.5h-7l-5 4v-4H9A1.5 1.5 0 0 1 7.5 19v-9A1.5 1.5 0 0 1 9 8.5z' fill='none' stroke='white' stroke-width='2' stroke-linejoin='round'/%3E%3C/svg%3E";

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"icon\" href=\"{ICON}\">\
         <link rel=\"stylesheet\" href=\"/static/card.css\"></head><body>{body}</body></html>",
        esc(title)
    )
}

fn agent_page(
    code: &str,
    p: &ProfileRow,
    past: &[PastService],
    ratings: &[RatingRow],
    note: Option<Note>,
) -> String {
    let name = esc(&p.display_name);
    let code = esc(code);
    let mut b = String::with_capacity(8 * 1024);
    let _ = write!(
        b,
        "<main><section class=\"card who\"><img src=\"/a/{code}/photo\" alt=\"Photo of {name}\">\
         <div><h1 id=\"agent-name\">{name}</h1><div class=\"muted\">Agent <span id=\"agent-id\">#{}</span></div>",
        p.agent_id
    );
    if !p.slogan.is_empty() {
        let _ = write!(
            b,
            "<p class=\"slogan\" id=\"slogan\">{}</p>",
            esc(&p.slogan)
        );
    }
    b.push_str("</div></section>");

    let score = Satisfaction {
        sum: p.rating_sum,
        count: p.rating_count,
    };
    b.push_str("<section class=\"card\"><div class=\"facts\">");
    match score.shown() {
        Some(mean) => {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let whole = score.mean().map_or(0, |m| m.round() as u8);
            let _ = write!(
                b,
                "<div><span class=\"score\" aria-hidden=\"true\">{}</span>\
                 <b id=\"score\">{mean}</b><span class=\"muted\" id=\"rating-count\">{} rating{}</span></div>",
                stars_text(whole),
                p.rating_count,
                if p.rating_count == 1 { "" } else { "s" }
            );
        }
        None => b.push_str(
            "<div><b id=\"score\">–</b><span class=\"muted\" id=\"rating-count\">no ratings yet</span></div>",
        ),
    }
    let _ = write!(
        b,
        "<div><b id=\"served\">{}</b><span class=\"muted\">customers served</span></div></div>",
        p.served
    );
    let _ = write!(
        b,
        "<a class=\"button\" id=\"chat-again\" href=\"/?link={code}\">Chat with {name} again</a>"
    );
    if let Some(tel) = &p.contact_phone {
        let tel = esc(tel);
        let _ = write!(
            b,
            "<a class=\"button tel\" id=\"contact\" href=\"tel:{tel}\">Call {tel}</a>"
        );
    }
    b.push_str("</section>");

    // This customer's services with the agent, and the form for the newest unrated.
    b.push_str("<section class=\"card\" id=\"yours\"><h2>Your services with ");
    b.push_str(&name);
    b.push_str("</h2>");
    match note {
        Some(Note::Info(m)) => {
            let _ = write!(b, "<p class=\"note info\" role=\"status\">{}</p>", esc(m));
        }
        Some(Note::Problem(m)) => {
            let _ = write!(
                b,
                "<p class=\"note problem\" role=\"alert\">{}</p>",
                esc(&m)
            );
        }
        None => {}
    }
    if let Some(open) = past.iter().find(|s| s.stars.is_none()) {
        let _ = write!(
            b,
            "<form method=\"post\" action=\"/a/{code}/rating\" id=\"rate\">\
             <input type=\"hidden\" name=\"service\" value=\"{}\">\
             <p>How was your {} on {}?</p><div class=\"rate\">",
            esc(&open.id),
            if open.need == "voice" { "call" } else { "chat" },
            day(open.started_at)
        );
        for n in (1..=5).rev() {
            let _ = write!(
                b,
                "<input type=\"radio\" name=\"stars\" value=\"{n}\" id=\"star{n}\" required>\
                 <label for=\"star{n}\" title=\"{n} of 5\">★</label>"
            );
        }
        b.push_str(
            "</div><textarea name=\"comment\" maxlength=\"1000\" \
             placeholder=\"Anything to add? (optional)\"></textarea>\
             <button type=\"submit\">Send rating</button></form>",
        );
    }
    if past.is_empty() {
        b.push_str("<p class=\"muted\">No services yet.</p>");
    } else {
        b.push_str("<ul id=\"past\">");
        for s in past {
            let _ = write!(
                b,
                "<li>{} · {}{}</li>",
                day(s.started_at),
                if s.need == "voice" { "call" } else { "chat" },
                s.stars.map_or_else(
                    || " · <span class=\"muted\">not rated</span>".to_owned(),
                    |n| format!(" · <span class=\"stars\">{}</span>", stars_text(n))
                )
            );
        }
        b.push_str("</ul>");
    }
    b.push_str("</section>");

    b.push_str("<section class=\"card\"><h2>What customers say</h2>");
    let said: Vec<&RatingRow> = ratings.iter().collect();
    if said.is_empty() {
        b.push_str("<p class=\"muted\">No ratings yet.</p>");
    } else {
        b.push_str("<ul id=\"ratings\">");
        for r in said {
            let _ = write!(
                b,
                "<li><span class=\"stars\">{}</span> <span class=\"muted\">{}</span>",
                stars_text(r.stars),
                day(r.at)
            );
            if !r.comment.is_empty() {
                let _ = write!(b, "<p class=\"comment\">{}</p>", esc(&r.comment));
            }
            b.push_str("</li>");
        }
        b.push_str("</ul>");
    }
    b.push_str("</section></main>");
    shell(&format!("{} · your agent", p.display_name), &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<b>\"Tom\" & 'Jerry'</b>"),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn the_page_escapes_what_agents_and_customers_wrote() {
        let p = ProfileRow {
            agent_id: 3,
            username: "x".into(),
            display_name: "<script>alert(1)</script>".into(),
            slogan: "\"quoted\" & <i>".into(),
            contact_phone: Some("+442079460018".into()),
            photo_at: None,
            served: 4,
            rating_sum: 9,
            rating_count: 2,
        };
        let ratings = [RatingRow {
            service_id: "s".into(),
            stars: 4,
            comment: "<img src=x onerror=alert(1)>".into(),
            at: 0,
        }];
        let page = agent_page("CODE", &p, &[], &ratings, Some(Note::Problem("<x>".into())));
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img src=x"), "{page}");
        assert!(!page.contains("<i>"), "{page}");
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("<b id=\"score\">4.5</b>"));
        assert!(page.contains("href=\"tel:+442079460018\""));
    }

    #[test]
    fn the_default_avatar_shows_initials() {
        let svg = default_avatar(2, "ann lee <x>");
        assert!(svg.contains(">AL<"), "{svg}");
        let svg = default_avatar(2, "<b>");
        assert!(svg.contains(">&lt;<"), "{svg}");
        assert!(default_avatar(-1, "").starts_with("<svg"));
    }
}

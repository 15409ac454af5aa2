//! `/api/answers`: the answer bot's library (`docs/answers.md`). Admins only.
//!
//! Read it (JSON, or exported as a CSV or YAML file), replace it whole from a
//! CSV, YAML or JSON body, create, replace or delete one entry, and read each
//! answer's deflection numbers.
//!
//! A body with any problem changes nothing; every problem is listed, with its line
//! for files. Every change is stored as a new library version and loaded into the
//! bot *before* the response is sent ([`crate::bot::AnswerBot::reload`]), so when
//! the client hears "done" the bot already answers with the new library.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use frontdesk_domain::answers::{Answer, AnswerFormat, Library, LibraryErrors};
use frontdesk_protocol::rest::{
    AnswerEntry, AnswerLibraryInfo, AnswerSaved, AnswerStatsEntry, AnswersImported,
};
use frontdesk_protocol::{ErrorBody, ErrorCode, Problem};
use frontdesk_store::AnswerRow;
use serde::Deserialize;

use super::Admin;
use super::extract::{ApiJson, ApiQuery};
use crate::AppState;
use crate::bot::{answer_of, row_of};
use crate::error::ApiError;
use crate::time::now_ms;

/// The answer library routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        // `PUT /api/answers` reads its body itself, so that a library over
        // `limits.max_body_bytes` gets a 413 that names the CLI.
        .route("/api/answers", get(get_library).put(replace_library))
        // The static route wins over `{id}` below; an entry whose id is `stats`
        // is still reachable for PUT and DELETE through these.
        .route(
            "/api/answers/stats",
            get(stats).put(put_stats_entry).delete(delete_stats_entry),
        )
        .route(
            "/api/answers/{id}",
            axum::routing::put(put_answer).delete(delete_answer),
        )
}

/// The entry as sent over the API.
fn entry_of(a: &Answer) -> AnswerEntry {
    AnswerEntry {
        id: a.id.clone(),
        language: a.language.clone(),
        answer: a.answer.clone(),
        phrasings: a.phrasings.clone(),
        tags: a.tags.clone(),
    }
}

/// The entry as the library takes it (normalised and validated there).
fn answer_of_entry(e: AnswerEntry) -> Answer {
    Answer {
        id: e.id,
        answer: e.answer,
        phrasings: e.phrasings,
        tags: e.tags,
        language: e.language,
    }
}

fn rows_of(library: &Library) -> Vec<AnswerRow> {
    library.iter().map(row_of).collect()
}

/// Every problem of a library or entry as a 422 `invalid_library`. Problems known
/// only by their entry's position (a JSON body) name it in the message.
fn library_problems(errs: LibraryErrors) -> ApiError {
    let listed = errs.problems.len();
    let mut problems: Vec<Problem> = errs
        .problems
        .into_iter()
        .map(|p| match (p.line, p.entry) {
            (None, Some(entry)) => Problem {
                line: None,
                message: format!("entry {entry}: {}", p.message),
            },
            (line, _) => Problem {
                line,
                message: p.message,
            },
        })
        .collect();
    if errs.total > listed {
        problems.push(Problem {
            line: None,
            message: format!("… and {} more", errs.total - listed),
        });
    }
    ApiError::Problems {
        code: ErrorCode::InvalidLibrary,
        message: format!(
            "the answer library has {} problem{}; nothing was changed",
            errs.total,
            if errs.total == 1 { "" } else { "s" }
        ),
        problems,
    }
}

/// One problem with a request for one entry, as a 422 `invalid_library`.
fn entry_problem(message: String) -> ApiError {
    ApiError::Problems {
        code: ErrorCode::InvalidLibrary,
        message: "the answer has 1 problem; nothing was changed".into(),
        problems: vec![Problem {
            line: None,
            message,
        }],
    }
}

/// The stored version and entries, read so that they belong together: a change
/// between the two reads (rare) is detected and the read repeated.
async fn stored(app: &AppState) -> Result<(i64, Vec<AnswerRow>), ApiError> {
    let mut version = app.store.answers_version().await?;
    for _ in 0..3 {
        let rows = app.store.answers().await?;
        let after = app.store.answers_version().await?;
        if after == version {
            return Ok((version, rows));
        }
        version = after;
    }
    Err(ApiError::Conflict(
        "the answer library is being changed; try again".into(),
    ))
}

/// The stored library, validated.
async fn stored_library(app: &AppState) -> Result<(i64, Library), ApiError> {
    let (version, rows) = stored(app).await?;
    let library = Library::new(rows.into_iter().map(answer_of).collect()).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!(
            "the stored answer library does not validate: {e}"
        ))
    })?;
    Ok((version, library))
}

/// Loads the library just stored into the bot, so that the change is in effect
/// when the response is sent. Should it fail, the change is stored anyway and the
/// server's periodic reload retries it.
async fn take_effect(app: &AppState) -> Result<(), ApiError> {
    app.bot
        .reload()
        .await
        .map_err(|e| ApiError::Internal(e.context("loading the answer library just stored")))?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct LibraryQuery {
    /// `csv` or `yaml`: the library as that file (an export) instead of JSON.
    format: Option<String>,
}

/// The answer library: JSON with the stored version and the version the bot
/// answers with, or with `?format=csv|yaml` the library as that file (an
/// export that `PUT /api/answers` and `frontdesk answers import` read back).
#[utoipa::path(get, path = "/api/answers", security(("bearer" = [])), params(LibraryQuery),
    responses((status = 200, content(
                  (AnswerLibraryInfo = "application/json"),
                  (String = "text/csv"),
                  (String = "application/yaml")),
               description = "JSON, or the file asked for with `format`"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "a file was asked for and the library is empty"),
              (status = 422, body = ErrorBody, description = "an unknown format")))]
pub(crate) async fn get_library(
    State(app): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<LibraryQuery>,
) -> Result<Response, ApiError> {
    let format = match q.format.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(f) if f.eq_ignore_ascii_case("json") => None,
        Some(f) => Some(f.parse::<AnswerFormat>().map_err(ApiError::Invalid)?),
    };
    let (version, library) = stored_library(&app).await?;
    let Some(format) = format else {
        return Ok(Json(AnswerLibraryInfo {
            version,
            serving_version: app.bot.current().version,
            matching: app.bot.matching().as_str().to_owned(),
            model_error: match app.bot.matching() {
                crate::bot::Matching::ModelFailed(e) => Some(e.clone()),
                _ => None,
            },
            entries: library.iter().map(entry_of).collect(),
        })
        .into_response());
    };
    if library.is_empty() {
        // An empty file would not import again; say so rather than send one.
        return Err(ApiError::NotFound(
            "the answer library is empty; there is nothing to export".into(),
        ));
    }
    let disposition = format!(
        "attachment; filename=\"answers-v{version}.{}\"",
        format.as_str()
    );
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static(format.media_type())),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        library.to_format(format),
    )
        .into_response())
}

/// What a `PUT /api/answers` body is.
enum BodyKind {
    File(AnswerFormat),
    Json,
}

/// The body's kind from its `Content-Type`; `Err` with what to tell the client
/// when it is none we read.
fn body_kind(headers: &HeaderMap) -> Result<BodyKind, String> {
    let given = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = given
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "text/csv" | "application/csv" => Ok(BodyKind::File(AnswerFormat::Csv)),
        "application/yaml" | "text/yaml" | "application/x-yaml" | "text/x-yaml" => {
            Ok(BodyKind::File(AnswerFormat::Yaml))
        }
        "application/json" => Ok(BodyKind::Json),
        _ => {
            let said = if given.is_empty() {
                "no Content-Type".to_owned()
            } else {
                format!("Content-Type {given:?}")
            };
            Err(format!(
                "send the library as text/csv, application/yaml or application/json \
                 (an array of entries); the request has {said}"
            ))
        }
    }
}

/// 415: `ApiError` has no variant for it, and this is its only use.
fn unsupported_media_type(message: String) -> Response {
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Json(ErrorBody {
            error: ErrorCode::InvalidRequest,
            message,
            problems: Vec::new(),
        }),
    )
        .into_response()
}

/// Reads a JSON library: an array of entries. Syntax and shape errors carry their
/// line; problems with the values name their entry (1-based).
fn parse_json(data: &[u8]) -> Result<Library, ApiError> {
    let invalid = |line: Option<usize>, message: String| ApiError::Problems {
        code: ErrorCode::InvalidLibrary,
        message: "the answer library is not a valid JSON array of entries; nothing was changed"
            .into(),
        problems: vec![Problem { line, message }],
    };
    let entries: Vec<AnswerEntry> = serde_json::from_slice(data).map_err(|e| {
        let text = e.to_string();
        // serde_json appends " at line L column C"; the line has its own field.
        let text = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(m, _)| m);
        let mut message = format!("column {}: {text}", e.column());
        if data.trim_ascii_start().starts_with(b"{") {
            message.push_str(
                "; a JSON library is an array of entries ([{\"id\": …}, …]), such as the `entries` of GET /api/answers",
            );
        }
        invalid((e.line() > 0).then_some(e.line()), message)
    })?;
    if entries.is_empty() {
        return Err(invalid(
            None,
            "the array has no entries; to remove answers, DELETE /api/answers/{id} each".into(),
        ));
    }
    Library::new(entries.into_iter().map(answer_of_entry).collect()).map_err(library_problems)
}

/// Replaces the whole answer library with the body: a CSV or YAML library file
/// (format in `docs/answers.md`) or a JSON array of entries. The whole body is
/// validated first; on any problem nothing changes and every problem is listed
/// (with its line, for files). The new library is in effect when this answers.
/// Bodies over `limits.max_body_bytes` are refused: import those with
/// `frontdesk answers import FILE`.
#[utoipa::path(put, path = "/api/answers", security(("bearer" = [])),
    request_body(description = "the whole library", content(
        (String = "text/csv"), (String = "application/yaml"), ([AnswerEntry] = "application/json"))),
    responses((status = 200, body = AnswersImported, description = "stored and in effect"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "larger than `limits.max_body_bytes`; use the CLI"),
              (status = 415, body = ErrorBody, description = "not CSV, YAML or JSON"),
              (status = 422, body = ErrorBody, description = "invalid library (`invalid_library`); `problems` lists each with its line; nothing changed")))]
pub(crate) async fn replace_library(
    State(app): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = match body_kind(&headers) {
        Ok(kind) => kind,
        Err(message) => return Ok(unsupported_media_type(message)),
    };
    let max = app.config.limits.max_body_bytes;
    let data = axum::body::to_bytes(body, max as usize)
        .await
        .map_err(|_| {
            ApiError::TooLarge(format!(
                "the library is larger than limits.max_body_bytes ({max} bytes); \
                 import it with `frontdesk answers import FILE` on the server"
            ))
        })?;
    let library = match kind {
        BodyKind::File(format) => Library::parse(format, &data).map_err(library_problems)?,
        BodyKind::Json => parse_json(&data)?,
    };
    let version = {
        let _edit = app.bot.edits().await;
        app.store
            .replace_answers(&rows_of(&library), now_ms())
            .await?
    };
    take_effect(&app).await?;
    let mut languages = std::collections::BTreeMap::new();
    for a in library.iter() {
        *languages.entry(a.language.clone()).or_insert(0_u32) += 1;
    }
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    tracing::info!(
        admin = %admin.username,
        version,
        entries = library.len(),
        phrasings = library.phrasing_count(),
        "answer library replaced"
    );
    Ok(Json(AnswersImported {
        version,
        entries: count(library.len()),
        phrasings: count(library.phrasing_count()),
        languages,
    })
    .into_response())
}

/// Creates or replaces one entry. The body's `id` may be left out; when given it
/// must be the path's. The entry is validated with the rest of the library (ids,
/// totals); the change is in effect when this answers.
#[utoipa::path(put, path = "/api/answers/{id}", security(("bearer" = [])),
    params(("id" = String, Path, description = "the entry's id")),
    request_body = AnswerEntry,
    responses((status = 201, body = AnswerSaved, description = "a new entry"),
              (status = 200, body = AnswerSaved, description = "an existing entry, replaced"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "invalid entry (`invalid_library`); `problems` lists each; nothing changed")))]
pub(crate) async fn put_answer(
    State(app): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    ApiJson(mut entry): ApiJson<AnswerEntry>,
) -> Result<Response, ApiError> {
    let id = id.trim().to_owned();
    if entry.id.trim().is_empty() {
        entry.id.clone_from(&id);
    } else if entry.id.trim() != id {
        return Err(entry_problem(format!(
            "the body's id {:?} is not the path's {id:?}; leave `id` out or make them equal \
             (to rename an answer, PUT the new id and DELETE the old one)",
            entry.id.trim()
        )));
    }
    let (version, saved, created) = {
        let _edit = app.bot.edits().await;
        let (_, mut library) = stored_library(&app).await?;
        let replaced = library
            .upsert(answer_of_entry(entry))
            .map_err(library_problems)?;
        let saved = library
            .get(&id)
            .map(entry_of)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("answer {id} vanished")))?;
        let version = app
            .store
            .replace_answers(&rows_of(&library), now_ms())
            .await?;
        (version, saved, replaced.is_none())
    };
    take_effect(&app).await?;
    tracing::info!(admin = %admin.username, answer = %id, version, created, "answer saved");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(AnswerSaved {
            version,
            created,
            entry: saved,
        }),
    )
        .into_response())
}

/// Deletes one entry; its deflection numbers are kept (shown as no longer in the
/// library). The change is in effect when this answers.
#[utoipa::path(delete, path = "/api/answers/{id}", security(("bearer" = [])),
    params(("id" = String, Path, description = "the entry's id")),
    responses((status = 204, description = "deleted and in effect"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "no entry has this id")))]
pub(crate) async fn delete_answer(
    State(app): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let version = {
        let _edit = app.bot.edits().await;
        let (_, mut library) = stored_library(&app).await?;
        library
            .remove(&id)
            .ok_or_else(|| ApiError::NotFound(format!("there is no answer {id:?}")))?;
        app.store
            .replace_answers(&rows_of(&library), now_ms())
            .await?
    };
    take_effect(&app).await?;
    tracing::info!(admin = %admin.username, answer = %id, version, "answer deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn put_stats_entry(
    state: State<AppState>,
    admin: Admin,
    entry: ApiJson<AnswerEntry>,
) -> Result<Response, ApiError> {
    put_answer(state, admin, Path("stats".to_owned()), entry).await
}

async fn delete_stats_entry(state: State<AppState>, admin: Admin) -> Result<StatusCode, ApiError> {
    delete_answer(state, admin, Path("stats".to_owned())).await
}

/// Each answer's deflection numbers, the worst first: the highest hand-off rate,
/// then the most given. Every entry of the library is listed (never given: zeros
/// and `null` rates, last), and so are ids no longer in the library whose numbers
/// were counted (`in_library: false`).
#[utoipa::path(get, path = "/api/answers/stats", security(("bearer" = [])),
    responses((status = 200, body = [AnswerStatsEntry]),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn stats(
    State(app): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<AnswerStatsEntry>>, ApiError> {
    let rows = app.store.answers().await?;
    let counts = app.store.answer_stats().await?;
    Ok(Json(AnswerStatsEntry::table(
        rows.iter().map(|r| r.id.as_str()),
        counts
            .into_iter()
            .map(|s| (s.answer_id, s.given, s.accepted, s.handed_off)),
    )))
}
